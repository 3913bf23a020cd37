/**
 * A small RLIMIT_MEMLOCK (64 KiB, as in many containers) made ring creation
 * fail with ENOMEM on kernels before 5.12, which charge ring memory to it.
 * The ring now retries with half the entries, down to MIN_RETRY_ENTRIES,
 * and says under NODE_DEBUG=uringkit which size it used. On newer kernels
 * ring memory goes to the memory cgroup and the limit does not bite, so the
 * retry path is proven with an injected backend whose create() answers
 * ENOMEM above a size; the real limit is also tried in a child under prlimit.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';

import { nativeBinding, Ring, type Backend } from '../../src/index.js';
import { MIN_RETRY_ENTRIES } from '../../src/ring/ring.js';
import { describeChild, LIB_URL, runProcess } from '../helpers/child.js';
import { underMemlock } from '../helpers/memlock.js';

const ENOMEM = os.constants.errno.ENOMEM;

/** The io_uring backend, except that create() answers -ENOMEM for SQs larger than `fits`. */
function tightBackend(fits: number, asked: number[]): Backend {
  const real = nativeBinding();
  const b = Object.create(real) as Backend;
  b.create = (entries, ...rest) => {
    asked.push(entries);
    return entries > fits ? -ENOMEM : real.create(entries, ...rest);
  };
  return b;
}

describe('ring creation under a small RLIMIT_MEMLOCK', () => {
  test('ENOMEM: retried with halved entries until the ring fits; it works', async () => {
    const asked: number[] = [];
    const ring = new Ring({ backend: tightBackend(64, asked) });
    assert.deepEqual(asked, [1024, 512, 256, 128, 64]);
    assert.equal(ring.info.sqEntries, 64);
    assert.ok(ring.info.cqEntries >= 64);
    // More operations than the SQ holds still go through (the backlog).
    await Promise.all(Array.from({ length: 300 }, () => ring.nop()));
    assert.equal(ring.stats().completed, 300);
    await ring.close();
  });

  test(`ENOMEM down to ${MIN_RETRY_ENTRIES} entries: one ERR_IO_URING_UNAVAILABLE naming RLIMIT_MEMLOCK`, () => {
    const asked: number[] = [];
    assert.throws(() => new Ring({ backend: tightBackend(0, asked), entries: 256 }),
      (e: Error & { code?: string; errno?: number }) => {
        assert.equal(e.code, 'ERR_IO_URING_UNAVAILABLE');
        assert.equal(e.errno, -ENOMEM);
        assert.match(e.message, /RLIMIT_MEMLOCK/);
        return true;
      });
    assert.deepEqual(asked, [256, 128, 64, 32, 16]);
    assert.equal(asked.at(-1), MIN_RETRY_ENTRIES);
  });

  test('other errors are not retried', () => {
    const real = nativeBinding();
    const asked: number[] = [];
    const b = Object.create(real) as Backend;
    b.create = (entries) => {
      asked.push(entries);
      return -os.constants.errno.EPERM;
    };
    assert.throws(() => new Ring({ backend: b }), { code: 'ERR_IO_URING_UNAVAILABLE' });
    assert.deepEqual(asked, [1024]);
  });

  test('NODE_DEBUG=uringkit says which size was used', async () => {
    const d = await runProcess('env', ['NODE_DEBUG=uringkit', process.execPath, '--input-type=module', '-e', `
      import os from 'node:os';
      import { nativeBinding, Ring } from ${JSON.stringify(LIB_URL)};
      const real = nativeBinding();
      const b = Object.create(real);
      b.create = (entries, ...rest) => entries > 128 ? -os.constants.errno.ENOMEM : real.create(entries, ...rest);
      const ring = new Ring({ backend: b });
      await ring.nop();
      console.log(ring.info.sqEntries);
      await ring.close();
    `], 30_000);
    assert.equal(d.code, 0, describeChild(d));
    assert.equal(d.stdout.trim(), '128');
    assert.match(d.stderr, /ring created with 128 SQ entries instead of 1024: io_uring_setup said ENOMEM/,
      describeChild(d));
  });

  test('a child under prlimit --memlock=65536 gets a working ring (full size where the kernel charges the memcg)',
    async (t) => {
      const args = underMemlock(65536, [process.execPath, '--input-type=module', '-e', `
        import { Ring } from ${JSON.stringify(LIB_URL)};
        const ring = new Ring();
        await Promise.all(Array.from({ length: 100 }, () => ring.nop()));
        console.log(JSON.stringify({ sq: ring.info.sqEntries, done: ring.stats().completed }));
        await ring.close();
      `]);
      if (!Array.isArray(args)) {
        t.skip(args.skip);
        return;
      }
      const r = await runProcess('env', args, 60_000);
      assert.equal(r.code, 0, describeChild(r));
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sq: number; done: number };
      assert.equal(out.done, 100);
      assert.ok(out.sq >= MIN_RETRY_ENTRIES && out.sq <= 1024);
      if (out.sq < 1024) {
        assert.match(r.stderr, new RegExp(`ring created with ${out.sq} SQ entries instead of 1024`), describeChild(r));
      }
    });
});
