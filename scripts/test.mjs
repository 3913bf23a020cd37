#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Usage: node scripts/test.mjs [filter-substring ...]
//
// Before any suite starts:
//  - the native addon must load (unless UK_BACKEND=node): when it does not, the
//    run fails at once with the load error and the build's own error output
//    (build/build-error.log, written by scripts/build-native.mjs);
//  - the peers the selected suites talk to (openssl, Chromium, ...) are located,
//    or installed with apt-get when root (scripts/peers.mjs); their paths go to
//    the suites in UK_OPENSSL, UK_CHROMIUM, ... A missing one is reported here
//    and its tests fail saying what to install.
//
// Each file runs in its own `node --test` process, two at a time (this is a
// 2-core machine), in its own process group and with its own TMPDIR:
//  - a file still running after its time limit is killed with its whole group
//    and counted as failed (default 240 s, or UK_TEST_FILE_TIMEOUT; a file may
//    ask for more with a `@file-timeout <seconds>` line in its header comment);
//  - --test-force-exit: a handle left open cannot keep a finished file alive;
//  - a file killed at its limit gets a snapshot of its process group in the
//    log (each thread's state, wait channel and kernel stack);
//  - the file's TMPDIR is removed afterwards, and what the file left there is
//    reported (a test must clean up after itself).
// The last line is the total: "N passed, N failed" (plus skipped, todo, cancelled).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { PEERS, provide } from './peers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// UK_TEST_ROOT: another directory of compiled test files (the runner's own test uses it).
const testRoot = process.env.UK_TEST_ROOT ? path.resolve(process.env.UK_TEST_ROOT) : path.join(root, 'dist', 'test');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
// UK_TEST_EXCLUDE: comma-separated substrings of test files NOT to run; every exclusion is printed.
const excludes = (process.env.UK_TEST_EXCLUDE ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
const concurrency = Math.max(1, Number(process.env.UK_TEST_CONCURRENCY) || 2);
// UK_TEST_FILE_TIMEOUT (seconds) changes the default, e.g. for the slower sanitizer build.
const DEFAULT_FILE_TIMEOUT_S = Number(process.env.UK_TEST_FILE_TIMEOUT) || 240;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

// --- 1. the addon ------------------------------------------------------------
function checkAddon() {
  if (process.env.UK_BACKEND === 'node' || process.env.UK_BACKEND === 'portable') return;
  const require = createRequire(import.meta.url);
  try {
    if (process.env.UK_ADDON_PATH) require(process.env.UK_ADDON_PATH);
    else require('node-gyp-build')(root);
    return;
  } catch (err) {
    const lines = [`uringkit tests: the native addon does not load: ${err.message.split('\n')[0]}`];
    const log = path.join(root, 'build', 'build-error.log');
    if (existsSync(log)) {
      const text = readFileSync(log, 'utf8').trimEnd().split('\n');
      lines.push(`The build failed (${log}, last ${Math.min(40, text.length)} lines):`, ...text.slice(-40));
    } else {
      lines.push('Build it with "npm install" (or "node scripts/build-native.mjs --force") and look at its output.');
    }
    lines.push('No suite was started. (UK_BACKEND=node runs the suites on the portable backend without the addon.)');
    console.error(lines.join('\n'));
    process.exit(1);
  }
}

// --- 2. peers ----------------------------------------------------------------
function providePeers(files) {
  const rel = files.map((f) => path.relative(testRoot, f));
  const needed = Object.entries(PEERS)
    .filter(([, p]) => p.tests.some((t) => rel.some((f) => f.includes(t))))
    .map(([name]) => name);
  if (needed.length === 0) return {};
  const { found, message } = provide(needed, (line) => console.log(line));
  if (message) console.log(`uringkit tests: ${message}. The tests that need it will fail.`);
  const env = {};
  for (const [name, p] of Object.entries(found)) env[PEERS[name].env] = p;
  return env;
}

// --- 3. one file -------------------------------------------------------------
/** The `@file-timeout <seconds>` of the file's leading comment (before its first line of code), or the default. */
function fileTimeoutS(file) {
  const lead = [];
  for (const line of readFileSync(file, 'utf8').slice(0, 8000).split('\n')) {
    if (!/^\s*(\/\*|\*|\/\/|$)/.test(line)) break;
    lead.push(line);
  }
  const m = /@file-timeout\s+(\d+)/.exec(lead.join('\n'));
  return m ? Number(m[1]) : DEFAULT_FILE_TIMEOUT_S;
}

// --test-force-exit: Node 20.14+ and 22+.
const [major, minor] = process.versions.node.split('.').map(Number);
const forceExit = major > 20 || (major === 20 && minor >= 14) ? ['--test-force-exit'] : [];

function runFile(file, env) {
  return new Promise((resolve) => {
    const limitS = fileTimeoutS(file);
    const started = Date.now();
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'uringkit-test-'));
    const childEnv = { ...process.env, ...env, TMPDIR: tmp };
    delete childEnv.NODE_TEST_CONTEXT;
    const args = ['--expose-gc', '--test', '--test-reporter=tap', ...forceExit, '--test-timeout=180000', file];
    const child = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    let timedOut = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    };
    let snapshot = '';
    const timer = setTimeout(() => {
      timedOut = true;
      snapshot = processSnapshot(child.pid);
      killGroup();
    }, limitS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(); // anything the file started and left behind
      let left = [];
      try {
        left = readdirSync(tmp);
      } catch {
        // removed by the test itself
      }
      rmSync(tmp, { recursive: true, force: true });
      resolve({ file, code, signal, out, timedOut, snapshot, limitS, left, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/**
 * What a file that ran past its limit was doing when it was killed: every
 * process of its group and each thread's state, kernel wait channel and (as
 * root) kernel stack. A hang then explains itself in the CI log.
 */
function processSnapshot(pgid) {
  const lines = [];
  const read = (f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  let pids = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return '(no /proc)';
  }
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid) continue; // field 5: the process group
    lines.push(`process ${pid}: ${read(`/proc/${pid}/cmdline`).split('\0').join(' ').trim()}`);
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const tstat = read(`/proc/${pid}/task/${tid}/stat`);
      const comm = tstat.slice(tstat.indexOf('(') + 1, tstat.lastIndexOf(')'));
      const state = tstat.slice(tstat.lastIndexOf(')') + 2).split(' ')[0];
      const wchan = read(`/proc/${pid}/task/${tid}/wchan`);
      const stack = read(`/proc/${pid}/task/${tid}/stack`).trim().split('\n').slice(0, 6).map((l) => l.replace(/^\[<[0-9a-f]+>\] /, '')).join(' < ');
      lines.push(`  thread ${tid} ${comm} ${state} wchan=${wchan || '-'}${stack ? ` stack: ${stack}` : ''}`);
    }
    const fds = (() => {
      try {
        return readdirSync(`/proc/${pid}/fd`).length;
      } catch {
        return '?';
      }
    })();
    lines.push(`  open fds: ${fds}`);
  }
  return lines.join('\n');
}

function count(out, key) {
  let n = 0;
  for (const m of out.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))) n += Number(m[1]);
  return n;
}

// --- main --------------------------------------------------------------------
const selected = existsSync(testRoot)
  ? walk(testRoot).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  : [];
const files = selected.filter((f) => !excludes.some((s) => f.includes(s)));
if (files.length < selected.length) {
  console.log(`uringkit tests: NOT RUN (UK_TEST_EXCLUDE): ${selected.filter((f) => !files.includes(f))
    .map((f) => path.relative(testRoot, f)).join(', ')}`);
}
if (files.length === 0) {
  console.error('no test files found (did tsc run?)');
  process.exit(1);
}
checkAddon();
const peerEnv = providePeers(files);
// One line when rings here cannot run on io_uring (seccomp, sysctl, old kernel, UK_BACKEND=node).
const backendHelper = path.join(testRoot, 'helpers', 'io-uring-probe.js');
if (existsSync(backendHelper)) {
  const reason = (await import(pathToFileURL(backendHelper).href)).ioUringSkipReason();
  if (reason) console.log(`uringkit tests: io_uring is not used in this run: ${reason.replace(/^needs [^;:]*[;:] /, '')}`);
}

// Shared by every file of this run (e.g. the packed package, made once: test/helpers/pack.ts).
const shared = mkdtempSync(path.join(os.tmpdir(), 'uringkit-run-'));
peerEnv.UK_TEST_SHARED_DIR = shared;
process.on('exit', () => rmSync(shared, { recursive: true, force: true }));

const totals = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
const broken = [];
const queue = [...files];
async function worker() {
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const r = await runFile(file, peerEnv);
    const rel = path.relative(r.file.startsWith(root + path.sep) ? root : testRoot, r.file);
    process.stdout.write(`# ---- ${rel} (${r.seconds.toFixed(1)} s)\n${r.out}`);
    for (const k of Object.keys(totals)) totals[k] += count(r.out, k);
    if (r.timedOut) {
      console.log(`# ${rel}: still running after ${r.limitS} s: killed with its process group (counted as failed)`);
      if (r.snapshot) console.log(`# ${rel}: what it was doing when killed:\n${r.snapshot.replace(/^/gm, '#   ')}`);
      broken.push(`${rel} (killed after ${r.limitS} s)`);
      totals.fail++;
    } else if (r.code !== 0 && count(r.out, 'fail') === 0 && count(r.out, 'cancelled') === 0) {
      console.log(`# ${rel}: exited with ${r.code ?? r.signal} without a failing test (counted as failed)`);
      broken.push(`${rel} (exit ${r.code ?? r.signal})`);
      totals.fail++;
    } else if (r.code !== 0) {
      broken.push(rel);
    }
    if (r.left.length > 0) {
      console.log(`# ${rel} left ${r.left.length} entries in its TMPDIR (removed now): ${r.left.slice(0, 10).join(', ')}`);
    }
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));

if (broken.length > 0) console.log(`\nfailed files:\n  ${broken.join('\n  ')}`);
if (totals.todo + totals.cancelled > 0) console.log(`\n(${totals.cancelled} cancelled, counted as failed; ${totals.todo} todo)`);
console.log(`\n${totals.pass} passed, ${totals.fail + totals.cancelled} failed, ${totals.skipped} skipped`);
process.exit(broken.length === 0 && totals.fail === 0 && totals.cancelled === 0 ? 0 : 1);
