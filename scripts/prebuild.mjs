#!/usr/bin/env node
// Builds the prebuilt binaries shipped inside the npm package (prebuildify,
// N-API: one binary per platform serves every Node version). Runs before
// `npm pack`. Three targets, each tagged so node-gyp-build picks the right one:
//
//   prebuilds/linux-x64/uringkit.napi.glibc.node    the host compiler
//   prebuilds/linux-x64/uringkit.napi.musl.node     musl-gcc (Debian: musl-tools)
//   prebuilds/linux-arm64/uringkit.napi.glibc.node  aarch64-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
//
// Offline: node-gyp gets the running Node's own headers through
// npm_config_nodedir (see build-native.mjs), never a download; N-API headers
// are the same for every architecture. The cross compilers are located, or
// installed with apt-get when root (scripts/peers.mjs); otherwise this fails
// saying what to install. Usage: node scripts/prebuild.mjs [--only x64-glibc,...]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { provide } from './peers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function fail(message) {
  console.error(`uringkit prebuild: ${message}`);
  process.exit(1);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`the prebuilds are made on linux-x64 (this is ${process.platform}-${process.arch})`);
}
const nodedir = path.resolve(path.dirname(process.execPath), '..');
if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) fail(`Node.js headers not found under ${nodedir}/include/node`);
const gypCandidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  path.join(nodedir, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = gypCandidates.find((p) => existsSync(p));
if (!gyp) fail('node-gyp not found (it ships with npm)');
const prebuildify = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');

const TARGETS = [
  { name: 'x64-glibc', arch: 'x64', libc: 'glibc' },
  { name: 'x64-musl', arch: 'x64', libc: 'musl', cc: 'musl-gcc' },
  { name: 'arm64-glibc', arch: 'arm64', libc: 'glibc', cc: 'aarch64-linux-gnu-gcc', strip: 'aarch64-linux-gnu-strip' },
];
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : undefined;
const targets = TARGETS.filter((t) => !only || only.includes(t.name));

const cross = targets.map((t) => t.cc).filter(Boolean);
const peers = provide(cross, (line) => console.log(line));
if (peers.message) fail(`cross compilers missing: ${peers.message}`);

/**
 * musl-gcc sees musl's headers only; the addon also needs the kernel's UAPI
 * headers (linux/io_uring.h, asm/...). A directory holding just those (links
 * to Debian's linux-libc-dev) goes on the include path: no glibc header can
 * be picked up by accident.
 */
function kernelHeadersOnly() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'uringkit-uapi-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const [name, target] of [['linux', '/usr/include/linux'], ['asm-generic', '/usr/include/asm-generic'],
    ['asm', '/usr/include/x86_64-linux-gnu/asm']]) {
    if (!existsSync(target)) fail(`kernel headers not found at ${target} (Debian: apt-get install -y linux-libc-dev)`);
    symlinkSync(target, path.join(dir, name));
  }
  return dir;
}

// node-gyp's dev dir (prebuildify's cache; with --nodedir it stays empty): ours, removed at exit.
const cache = mkdtempSync(path.join(os.tmpdir(), 'uringkit-prebuildify-'));
process.once('exit', () => rmSync(cache, { recursive: true, force: true }));

for (const t of targets) {
  const env = { ...process.env, npm_config_nodedir: nodedir, PREBUILD_NODE_GYP: gyp };
  if (t.cc) {
    const cc = peers.found[t.cc];
    Object.assign(env, { CC: cc, CXX: cc, LINK: cc });
    if (t.strip) env.PREBUILD_STRIP_BIN = path.join(path.dirname(cc), t.strip);
    if (t.libc === 'musl') env.CFLAGS = `${env.CFLAGS ?? ''} -isystem ${kernelHeadersOnly()}`.trim();
  }
  console.log(`uringkit prebuild: ${t.name}${t.cc ? ` with ${t.cc}` : ''}`);
  // A clean build directory per target: make must not reuse another target's objects.
  rmSync(path.join(root, 'build'), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--name', 'uringkit', '--arch', t.arch,
    '--tag-libc', t.libc, '--cache', cache, '-t', process.versions.node], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) fail(`building ${t.name} failed (status ${r.status})`);
}
// build/ now holds the last target's objects; rebuild the host addon so the checkout keeps working.
if (targets.some((t) => t.name !== 'x64-glibc') && existsSync(path.join(root, '.git'))) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs'), '--force'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail('rebuilding the host addon after the cross builds failed');
}
