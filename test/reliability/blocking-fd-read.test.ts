/**
 * A read of a real fd that may wait without end (a FIFO opened blocking, the
 * way stdin often is) ends at its deadline or abort on every backend: on
 * io_uring the read is armed on poll; on the portable backend it runs on a
 * libuv pool thread that no cancel stops, so it reads into a bounce buffer
 * and settles at once (src/backend/portable/fd-reads.ts). Bytes that arrive
 * afterwards are not lost: the next read returns them, in order. A read of
 * an O_NONBLOCK FIFO waits for data as on io_uring (never EAGAIN).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { makeTempDir } from '../helpers/tmp.js';

let tmp: { dir: string; remove(): void };
before(() => {
  tmp = makeTempDir('uringkit-blocking-read-');
});
after(() => tmp.remove());

for (const which of ['default', 'portable'] as const) {
  describe(`a blocking FIFO read (${which} backend)`, () => {
    let ring: Ring;
    let fd = -1;
    before(() => {
      ring = which === 'portable' ? new Ring({ backend: 'portable' }) : Ring.current();
      const p = path.join(tmp.dir, `fifo-${which}`);
      execFileSync('mkfifo', [p]);
      // O_RDWR: the open does not wait for a writer, and a read waits for data (no O_NONBLOCK).
      fd = fs.openSync(p, fs.constants.O_RDWR);
    });
    after(async () => {
      // A byte for a portable read the last deadline orphaned, so its pool thread is free again.
      fs.writeSync(fd, 'z');
      fs.closeSync(fd);
      if (ring !== Ring.current()) await ring.close();
    });

    test('a deadline ends it (ETIMEDOUT), an abort ends it (AbortError), and later bytes are read in order', async () => {
      await assert.rejects(ring.read(fd, Buffer.alloc(8), { timeout: 20 }), { code: 'ETIMEDOUT' });
      const ac = new AbortController();
      const aborted = ring.read(fd, Buffer.alloc(8), { signal: ac.signal });
      setImmediate(() => ac.abort());
      await assert.rejects(aborted, { name: 'AbortError', code: 'ABORT_ERR' });
      fs.writeSync(fd, 'abcdef');
      const b = Buffer.alloc(4);
      const n1 = await ring.read(fd, b, { timeout: 30_000 });
      assert.equal(b.toString('latin1', 0, n1), 'abcdef'.slice(0, n1));
      let rest = '';
      while (n1 + rest.length < 6) {
        const n = await ring.read(fd, b, { timeout: 30_000 });
        rest += b.toString('latin1', 0, n);
      }
      assert.equal('abcdef'.slice(0, n1) + rest, 'abcdef');
      assert.equal(ring.stats().inFlight, 0);
    });

    test('an O_NONBLOCK FIFO: a read waits for data (never EAGAIN), and its deadline ends the wait', async () => {
      const p = path.join(tmp.dir, `nb-fifo-${which}`);
      execFileSync('mkfifo', [p]);
      const nb = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      try {
        await assert.rejects(ring.read(nb, Buffer.alloc(8), { timeout: 20 }), { code: 'ETIMEDOUT' });
        const b = Buffer.alloc(8);
        const pending = ring.read(nb, b, { timeout: 30_000 });
        setTimeout(() => fs.writeSync(nb, 'xy'), 30);
        const n = await pending;
        assert.equal(b.toString('latin1', 0, n), 'xy');
      } finally {
        fs.closeSync(nb);
      }
    });

    test('a callback read with a deadline settles once, with ETIMEDOUT', async () => {
      const calls: unknown[] = [];
      await new Promise<void>((resolve) => {
        ring.read(fd, Buffer.alloc(8), { timeout: 20 }, (err: Error | null) => {
          calls.push((err as { code?: string } | null)?.code);
          setImmediate(resolve);
        });
      });
      assert.deepEqual(calls, ['ETIMEDOUT']);
    });
  });
}
