/**
 * fork/spawn while operations are in flight: the ring's memory is
 * MADV_DONTFORK, so children never touch it; they run normally, and the
 * parent's operations still complete (and cancel) afterwards.
 */
import assert from 'node:assert/strict';
import { fork, spawn, spawnSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { POLL, Ring } from '../../src/index.js';
import { makeFifo, type Fifo } from '../helpers/fifo.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const ring = Ring.current();
let fifo: Fifo;
let childDir: string;
let childModule: string;

before(() => {
  fifo = makeFifo();
  childDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uringkit-fork-'));
  childModule = path.join(childDir, 'child.mjs');
  fs.writeFileSync(childModule, `import { Ring } from '${new URL('../../src/index.js', import.meta.url).href}';
const r = Ring.current(); await r.nop(); await r.sleep(5); console.log('child-ok', r.stats().completed);
`);
});
after(() => {
  fifo.close();
  fs.rmSync(childDir, { recursive: true, force: true });
});

function exit(child: import('node:child_process').ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

describe('fork and spawn with operations in flight',
  { timeout: 120_000, skip: skipUnlessIoUring('needs poll on a FIFO (refused with EOPNOTSUPP on the portable backend)') }, () => {
  test('100 sleeps and 100 polls in flight across spawn, fork and spawnSync', async () => {
    let settled = 0;
    const sleeps = Array.from({ length: 100 }, (_, i) => ring.sleep(200 + i).then(() => settled++));
    const ac = new AbortController();
    setMaxListeners(0, ac.signal);
    const polls = Array.from({ length: 100 }, () =>
      ring.poll(fifo.fd, POLL.IN, { signal: ac.signal }).then((mask) => {
        settled++;
        return mask;
      }));
    await ring.nop();
    assert.equal(ring.stats().inFlight, 200);

    // Children that use io_uring themselves, in fresh processes.
    const spawned = exit(spawn(process.execPath, [childModule], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const forked = exit(fork(childModule, [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] }));
    const shell = exit(spawn('/bin/sh', ['-c', 'echo shell-ok; cat /proc/self/status | grep -c VmRSS'], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const sync = spawnSync('/bin/sh', ['-c', 'echo sync-ok'], { encoding: 'utf8' });
    assert.equal(sync.stdout.trim(), 'sync-ok');
    const [a, b, c] = await Promise.all([spawned, forked, shell]);
    assert.equal(a.code, 0);
    assert.match(a.out, /child-ok 2/);
    assert.equal(b.code, 0);
    assert.match(b.out, /child-ok 2/);
    assert.equal(c.code, 0);
    assert.match(c.out, /shell-ok/);

    // The parent's operations are intact: the polls complete when data arrives, the sleeps on time.
    fifo.write('ready');
    const masks = await Promise.all(polls);
    for (const m of masks) assert.ok((m & POLL.IN) !== 0);
    await Promise.all(sleeps);
    assert.equal(settled, 200);
    fifo.drain();
    assert.equal(ring.stats().inFlight, 0);
    await ring.nop();
  });

  test('forking many children while operations are cancelled and re-issued', async () => {
    const children: Promise<{ code: number | null; out: string }>[] = [];
    for (let round = 0; round < 5; round++) {
      const ac = new AbortController();
      setMaxListeners(0, ac.signal);
      const ops = Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? ring.poll(fifo.fd, POLL.IN, { signal: ac.signal }) : ring.sleep(10_000, { signal: ac.signal }))
          .then(() => 'ok', (e: Error & { code?: string }) => e.code));
      await ring.nop();
      children.push(exit(spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'inherit'] })));
      ac.abort();
      const outcomes = await Promise.all(ops);
      assert.deepEqual(new Set(outcomes), new Set(['ABORT_ERR']));
    }
    for (const r of await Promise.all(children)) assert.equal(r.code, 0);
    assert.equal(ring.stats().inFlight, 0);
  });
});
