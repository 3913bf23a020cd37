#!/usr/bin/env node
// Builds the prebuilt binary shipped inside the npm package (prebuildify,
// N-API: one binary serves every Node version). Runs before `npm pack`.
// Offline: node-gyp gets the running Node's own headers through
// npm_config_nodedir (see build-native.mjs), never a download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const nodedir = path.resolve(path.dirname(process.execPath), '..');
if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`uringkit: Node.js headers not found under ${nodedir}/include/node`);
  process.exit(1);
}
const gypCandidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  path.join(nodedir, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = gypCandidates.find((p) => existsSync(p));
if (!gyp) {
  console.error('uringkit: node-gyp not found (it ships with npm)');
  process.exit(1);
}
const bin = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const r = spawnSync(process.execPath, [bin, '--napi', '--strip', '--name', 'uringkit', '-t', process.versions.node], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir, PREBUILD_NODE_GYP: gyp },
});
process.exit(r.status ?? 1);
