/**
 * uringkit where io_uring is blocked by seccomp (Docker's default profile,
 * containerd 2.0, GitHub's runners): io_uring_setup/enter/register fail with
 * EPERM under test/helpers/no-io-uring.c.
 *
 * - The harness itself: under it a probe sees EPERM from io_uring_setup, and a
 *   ring forced onto io_uring throws ERR_IO_URING_UNAVAILABLE at once (no hang).
 * - The after-state of the portable backend (issue 13): the README quick start,
 *   `uringkit serve` answering a request and the conformance suite all run
 *   under the filter, on the automatically chosen portable backend. These fail
 *   until the portable backend and its automatic selection exist.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ioUringSkipReason } from '../helpers/io-uring-probe.js';
import { describeChild, REPO_ROOT, runProcess } from '../helpers/child.js';
import { noIoUringWrapper, runWithoutIoUring, startWithoutIoUring } from '../helpers/no-io-uring.js';
import { printedAddress, probeServer, runnableSource, runSample, samplesIn, sampleFileName } from '../helpers/samples.js';

const T = { timeout: 180_000 };
let work: string;

/** io_uring_setup(2, &params) from C: prints "ok" or the errno name. */
const PROBE_C = `
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  unsigned char params[120];
  memset(params, 0, sizeof params);
  long fd = syscall(425, 2, params);
  if (fd >= 0) { close((int)fd); puts("ok"); return 0; }
  puts(errno == EPERM ? "EPERM" : strerror(errno));
  return 1;
}
`;

before(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'uringkit-seccomp-'));
  // The project's own package, resolvable as 'uringkit' from the work directory.
  fs.mkdirSync(path.join(work, 'node_modules'));
  fs.symlinkSync(REPO_ROOT, path.join(work, 'node_modules', 'uringkit'), 'dir');
  fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'seccomp-app', private: true, type: 'module' }));
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('the seccomp harness', () => {
  let bin: string;
  before(() => {
    const src = path.join(work, 'probe.c');
    bin = path.join(work, 'probe');
    fs.writeFileSync(src, PROBE_C);
    const cc = spawnSync(process.env.CC || 'cc', ['-o', bin, src], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(cc.status, 0, `cc failed: ${cc.stderr}`);
  });

  test('under the wrapper io_uring_setup fails with EPERM', T, async () => {
    const blocked = await runWithoutIoUring(bin, [], 30_000);
    assert.equal(blocked.stdout.trim(), 'EPERM', describeChild(blocked));
  });

  test('without the wrapper the same probe creates a ring (the filter, not the machine, refused it)',
    { ...T, skip: ioUringSkipReason() }, async () => {
    const free = await runProcess(bin, [], 30_000);
    assert.equal(free.stdout.trim(), 'ok', `io_uring_setup must work outside the filter on this machine\n${describeChild(free)}`);
  });

  test('a ring forced onto io_uring throws ERR_IO_URING_UNAVAILABLE (EPERM) at once', T, async () => {
    const code = `
      import { Ring } from 'uringkit';
      try { new Ring({}); console.log('created'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno })); }
    `;
    const file = path.join(work, 'forced.mjs');
    fs.writeFileSync(file, code);
    const r = await runWithoutIoUring(process.execPath, [file], 60_000, {
      cwd: work, env: { ...process.env, UK_BACKEND: 'io_uring' },
    });
    assert.equal(r.killed, false, `it hung\n${describeChild(r)}`);
    assert.equal(r.code, 0, describeChild(r));
    assert.deepEqual(JSON.parse(r.stdout.trim()), { code: 'ERR_IO_URING_UNAVAILABLE', errno: -os.constants.errno.EPERM });
  });

  test('the filter is inherited: a grandchild of the wrapped command sees EPERM too', T, async () => {
    const r = await runProcess(noIoUringWrapper(), ['sh', '-c', `${bin}; echo "exit $?"`], 30_000);
    assert.equal(r.stdout.trim(), 'EPERM\nexit 1', describeChild(r));
  });
});

describe('under seccomp, on the portable backend (after issue 13 item 1-2)', () => {
  test('the README quick start samples run', T, async () => {
    const samples = samplesIn(REPO_ROOT, 'README.md');
    assert.ok(samples.length >= 2, 'README.md must mark its quick start samples complete');
    for (const s of samples) {
      const file = path.join(work, sampleFileName(s).replace(/\.ts$/, '.mjs'));
      fs.writeFileSync(file, await runnableSource(s));
      await runSample(s, { cwd: work, file, wrapper: noIoUringWrapper(), timeoutMs: 60_000 });
    }
  });

  test('`uringkit serve` answers a request', T, async () => {
    const server = startWithoutIoUring(process.execPath, [path.join(REPO_ROOT, 'bin', 'uringkit.js'), 'serve', '--port', '0'], {
      cwd: work,
    });
    try {
      const started = Date.now();
      let addr = printedAddress(server.output());
      while (addr === undefined && Date.now() - started < 60_000 && server.child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 50));
        addr = printedAddress(server.output());
      }
      assert.ok(addr, `uringkit serve printed no address:\n${server.output()}`);
      const answer = await probeServer('http', addr.host, addr.port, 30_000);
      assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 300));
    } finally {
      await server.kill();
    }
  });

  test('the conformance suite passes', { timeout: 600_000 }, async () => {
    const dir = path.join(REPO_ROOT, 'dist', 'test', 'conformance');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => path.join(dir, f));
    // Without NODE_TEST_CONTEXT (set for this file by the runner) the inner runner reports in TAP.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = await runWithoutIoUring(process.execPath, ['--test', '--test-reporter=tap', '--test-force-exit', ...files], 540_000,
      { cwd: REPO_ROOT, env });
    assert.equal(r.killed, false, `the conformance suite hung under seccomp\n${describeChild(r).slice(-4000)}`);
    assert.equal(r.code, 0, describeChild(r).slice(-6000));
    assert.match(r.stdout, /# fail 0/);
    assert.doesNotMatch(r.stdout, /# pass 0\b/);
    // io_uring's own fixture skips itself here; the portable backend's must have run.
    assert.match(r.stdout, /^\s*ok \d+ - .*portable/im, 'no conformance test ran on the portable backend');
  });
});
