/**
 * The `uringkit serve` command line: failures print one line each, never a
 * stack trace (issue 16 item 8), and the new limits have flags.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { failureLines, parseServeArgs } from '../../src/serve/cli.js';
import { reusePortSkipReason, skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { BIN, REPO, within } from './helpers.js';

const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

/** Runs the CLI under `prlimit --nofile=n`; resolves when it exits, or kills it once it printed its URL. */
interface Run { code: number | null; stdout: string; stderr: string; served: boolean }

function runLimited(n: number, args: string[]): Promise<Run> {
  const child = spawn('prlimit', [`--nofile=${n}:${n}`, process.execPath, BIN, 'serve', ...args],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let served = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (!served && stdout.includes('http://')) {
      served = true;
      child.kill('SIGKILL');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return within(new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, served }))),
    60_000, `the CLI under nofile ${n}`).finally(() => child.kill('SIGKILL'));
}

test('workers that fail to start: one line per worker, no stack trace, exit 1',
  {
    skip: hasPrlimit ? skipUnlessIoUring('needs workers that fail to make their io_uring rings when fds run out (portable rings take no fd)')
      : 'prlimit (util-linux) is not installed: cannot make workers run out of fds',
  }, async () => {
  // Few enough descriptors that the main thread starts but workers cannot load or make their rings.
  let failedRun: { code: number | null; stderr: string } | undefined;
  for (let n = 34; n <= 90 && failedRun === undefined; n += 4) {
    const r = await runLimited(n, ['--port', '0', '--workers', '4']);
    assert.ok(!/^\s+at /m.test(r.stderr), `a stack trace under nofile ${n}:\n${r.stderr}`);
    if (!r.served && r.stderr.includes('a worker failed')) failedRun = r;
    else if (!r.served) assert.equal(r.stderr.trim().split('\n').length, 1, `more than one line:\n${r.stderr}`);
  }
  assert.ok(failedRun !== undefined, 'no descriptor limit made a worker fail');
  assert.equal(failedRun.code, 1);
  for (const line of failedRun.stderr.trim().split('\n')) assert.match(line, /^uringkit serve: a worker failed: \S/);
});

test('failureLines: one line per failure, first line of each message only', () => {
  const e = new AggregateError([new Error('EMFILE: too many open files\n    at x'), 'plain'], 'two failed');
  assert.equal(failureLines(e), 'uringkit serve: a worker failed: EMFILE: too many open files\n' +
    'uringkit serve: a worker failed: plain\n');
  assert.equal(failureLines(new Error('one')), 'uringkit serve: a worker failed: one\n');
});

test('the limit flags', () => {
  const o = parseServeArgs(['--request-timeout', '1500', '--header-timeout=700', '--send-timeout', '0',
    '--cache-entries', '0']);
  assert.equal(o.requestTimeoutMs, 1500);
  assert.equal(o.headerTimeoutMs, 700);
  assert.equal(o.sendTimeoutMs, 0);
  assert.equal(o.cacheEntries, 0);
  assert.throws(() => parseServeArgs(['--request-timeout', '0']), /--request-timeout needs an integer from 1/);
  assert.throws(() => parseServeArgs(['--send-timeout', 'x']), /--send-timeout needs an integer/);
});

test('--ring-entries and --max-io-workers: parsed, bounded, and the server runs with them (1 and 2 workers)',
  { skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' }, async () => {
    const o = parseServeArgs(['--ring-entries', '64', '--max-io-workers=8']);
    assert.equal(o.ringEntries, 64);
    assert.equal(o.maxIoWorkers, 8);
    assert.throws(() => parseServeArgs(['--ring-entries', '1']), /--ring-entries needs an integer from 2 to 32768/);
    assert.throws(() => parseServeArgs(['--max-io-workers', '0']), /--max-io-workers needs an integer from 1 to 65536/);
    for (const workers of reusePortSkipReason() === undefined ? ['1', '2'] : ['1']) {
      const r = await runCli(['--port', '0', '--workers', workers, '--ring-entries', '16', '--max-io-workers', '4']);
      assert.ok(r.served, `--workers ${workers}: ${r.stderr}`);
    }
  });

test('ports are decimal digits only (no 0x50, 1e3, or padding)', () => {
  assert.equal(parseServeArgs(['--port', '8081']).port, 8081);
  assert.equal(parseServeArgs(['--port=0']).port, 0);
  for (const v of ['0x50', '1e3', ' 80', '80 ', '+80', '80.0', '']) {
    assert.throws(() => parseServeArgs(['--port', v]), /--port needs an integer from 0 to 65535/, JSON.stringify(v));
  }
});

/** Runs the CLI to its exit (a hang guard kills it). */
function runCli(args: string[]): Promise<Run> {
  return runLimited(4096, args);
}

test('--host: a name is looked up (localhost works); one that does not resolve is one clear line, exit 1',
  { skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' }, async () => {
    const ok = await runCli(['--port', '0', '--host', 'localhost']);
    assert.ok(ok.served, `localhost: ${ok.stderr}`);
    const bad = await runCli(['--port', '0', '--host', 'no-such-host.invalid']);
    assert.equal(bad.served, false);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^uringkit serve: --host 'no-such-host\.invalid' is not an IP address and cannot be resolved/);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.doesNotMatch(bad.stderr, /init\.address/);
  });

test('a port in use (EADDRINUSE) and a root that is a file: one line each, exit 1',
  { skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' }, async () => {
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    try {
      const port = (holder.address() as { port: number }).port;
      for (const workers of reusePortSkipReason() === undefined ? ['1', '2'] : ['1']) {
        const r = await runCli(['--port', String(port), '--workers', workers]);
        assert.equal(r.served, false);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /EADDRINUSE/);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
    } finally {
      holder.close();
    }
    const file = await runCli([BIN, '--port', '0']);
    assert.equal(file.code, 1);
    assert.match(file.stderr, /is not a directory/);
  });
