/**
 * Many operations on one file at once: 256 writes of distinct 4 KiB patterns
 * at distinct offsets, issued in one synchronous run (so all are in flight
 * together), then 256 concurrent reads; the file's contents are exact.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { pattern, tmpDir, type TmpDir } from '../helpers/fs-util.js';

const ring = Ring.current();
const N = 256;
const BLOCK = 4096;

let tmp: TmpDir;
before(() => {
  tmp = tmpDir('uringkit-conc-');
});
after(() => tmp.remove());

/** A permutation of 0..n-1 (deterministic). */
function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let x = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1664525 + 1013904223) >>> 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function expectedFile(seedBase: number): Buffer {
  return Buffer.concat(Array.from({ length: N }, (_, i) => pattern(BLOCK, seedBase + i)));
}

describe('concurrent I/O on one file', () => {
  test(`${N} writes of distinct 4 KiB patterns issued at once (promise form)`, async () => {
    const p = tmp.file('promise');
    const fd = fs.openSync(p, 'w+');
    try {
      const before = ring.stats();
      const order = shuffled(N, 1);
      const writes = order.map((i) => ring.write(fd, pattern(BLOCK, 1000 + i), { position: i * BLOCK }));
      assert.equal(ring.stats().inFlight - before.inFlight, N, 'all writes in flight together');
      const results = await Promise.all(writes);
      assert.deepEqual(results, new Array(N).fill(BLOCK));
      assert.equal(ring.stats().inFlight, before.inFlight);
      const onDisk = fs.readFileSync(p);
      assert.equal(onDisk.length, N * BLOCK);
      assert.ok(onDisk.equals(expectedFile(1000)), 'contents are exactly the patterns, in place');

      // And 256 concurrent reads of the blocks, into separate buffers.
      const bufs = Array.from({ length: N }, () => Buffer.alloc(BLOCK));
      const reads = shuffled(N, 2).map((i) => ring.read(fd, bufs[i]!, { position: BigInt(i * BLOCK) }));
      assert.deepEqual(await Promise.all(reads), new Array(N).fill(BLOCK));
      for (let i = 0; i < N; i++) assert.ok(bufs[i]!.equals(pattern(BLOCK, 1000 + i)), `block ${i}`);
    } finally {
      fs.closeSync(fd);
    }
  });

  test(`${N} writes issued at once (callback form), half of them as writev`, async () => {
    const p = tmp.file('callback');
    const fd = fs.openSync(p, 'w+');
    try {
      const results = new Array<number | Error | undefined>(N);
      let settled = 0;
      let resolveAll!: () => void;
      const all = new Promise<void>((resolve) => (resolveAll = resolve));
      const done = (i: number) => (err: Error | null, n?: number) => {
        assert.equal(results[i], undefined, `callback ${i} called twice`);
        results[i] = err ?? n;
        if (++settled === N) resolveAll();
      };
      const before = ring.stats().inFlight;
      for (const i of shuffled(N, 3)) {
        const data = pattern(BLOCK, 5000 + i);
        if (i % 2 === 0) ring.write(fd, data, { position: i * BLOCK }, done(i));
        else ring.writev(fd, [data.subarray(0, 1000), data.subarray(1000)], { position: i * BLOCK }, done(i));
      }
      assert.equal(ring.stats().inFlight - before, N, 'all writes in flight together');
      assert.equal(settled, 0, 'no callback ran synchronously');
      await all;
      assert.deepEqual(results, new Array(N).fill(BLOCK));
      assert.ok(fs.readFileSync(p).equals(expectedFile(5000)));
    } finally {
      fs.closeSync(fd);
    }
  });
});
