/**
 * scripts/test.mjs, the test command, on a directory of small test files
 * (UK_TEST_ROOT): a file that never ends is killed at its own time limit with
 * what it started, a handle left open cannot keep a finished file alive, what a
 * file leaves in its TMPDIR is reported and removed, the closing line counts,
 * and an addon that does not load stops the run before any suite starts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { describeChild, REPO_ROOT, runProcess } from '../helpers/child.js';
import { makeTempDir } from '../helpers/tmp.js';

const RUNNER = path.join(REPO_ROOT, 'scripts', 'test.mjs');

const FILES: Record<string, string> = {
  'a-ok.test.js': `
    import { test } from 'node:test';
    test('passes', () => {});
    test('skips', { skip: 'a reason' }, () => {});
  `,
  // Its test passes, but an open server would keep the process alive forever without --test-force-exit.
  'b-open-handle.test.js': `
    import net from 'node:net';
    import { test } from 'node:test';
    test('passes, leaves a listening server', async () => {
      await new Promise((r) => net.createServer().listen(0, '127.0.0.1', r));
    });
  `,
  // Never finishes; starts a grandchild that must die with it.
  'c-hangs.test.js': `/** @file-timeout 5 */
    import { spawn } from 'node:child_process';
    import fs from 'node:fs';
    import { test } from 'node:test';
    test('never ends', { timeout: 600000 }, async () => {
      const child = spawn('sleep', ['600'], { stdio: 'ignore' });
      fs.writeFileSync(process.env.PID_FILE, String(child.pid));
      await new Promise(() => {});
    });
  `,
  // Leaves a directory in its TMPDIR.
  'd-leaves-tmp.test.js': `
    import fs from 'node:fs';
    import os from 'node:os';
    import path from 'node:path';
    import { test } from 'node:test';
    test('makes a temp dir and forgets it', () => { fs.mkdtempSync(path.join(os.tmpdir(), 'forgotten-')); });
  `,
};

/** The process exists and is not a zombie (killed, waiting to be reaped by init). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('time limits, open handles, leftovers and the closing line', { timeout: 180_000 }, async () => {
  const dir = makeTempDir('uk-runner-');
  try {
    for (const [name, code] of Object.entries(FILES)) fs.writeFileSync(path.join(dir.dir, name), code);
    const pidFile = path.join(dir.dir, 'grandchild.pid');
    const r = await runProcess(process.execPath, [RUNNER], 150_000, {
      cwd: REPO_ROOT, env: { ...process.env, UK_TEST_ROOT: dir.dir, PID_FILE: pidFile, UK_TEST_CONCURRENCY: '2' }, group: true,
    });
    assert.equal(r.killed, false, `the runner itself hung\n${describeChild(r)}`);
    assert.equal(r.code, 1, describeChild(r));
    assert.match(r.stdout, /# c-hangs\.test\.js: still running after 5 s: killed with its process group/);
    assert.match(r.stdout, /# d-leaves-tmp\.test\.js left 1 entries in its TMPDIR \(removed now\): forgotten-/);
    assert.doesNotMatch(r.stdout, /b-open-handle\.test\.js.*(killed|exited)/, 'a finished file with an open handle must end by itself');
    assert.match(r.stdout, /failed files:\n {2}c-hangs\.test\.js \(killed after 5 s\)\n/);
    assert.match(r.stdout, /\n3 passed, 1 failed, 1 skipped\n$/);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    // SIGKILL is delivered at once; allow the kernel a moment to finish the exit.
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(!alive(pid), `the hanging file's grandchild ${pid} survived`);
  } finally {
    dir.remove();
  }
});

test('an addon that does not load stops the run before any suite starts', { timeout: 60_000 }, async () => {
  const r = await runProcess(process.execPath, [RUNNER], 30_000, {
    cwd: REPO_ROOT, env: { ...process.env, UK_ADDON_PATH: '/nonexistent/uringkit.node', UK_BACKEND: '' },
  });
  assert.equal(r.code, 1, describeChild(r));
  assert.match(r.stderr, /uringkit tests: the native addon does not load: Cannot find module '\/nonexistent\/uringkit\.node'/);
  assert.match(r.stderr, /No suite was started/);
  assert.doesNotMatch(r.stdout, /# ---- /);
});
