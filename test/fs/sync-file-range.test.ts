/**
 * ring.syncFileRange (IORING_OP_SYNC_FILE_RANGE): the operation added to
 * prove "Adding an operation" in docs/design.md. On io_uring it reaches the
 * kernel (errors come from sync_file_range(2) itself: EBADF, ESPIPE); bad
 * arguments are refused before anything is staged; the allow list knows it;
 * the portable backend runs an fdatasync; the mock answers it generically.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { Ring } from '../../src/index.js';
import { MockBackend } from '../../src/testing.js';
import { makeFifo } from '../helpers/fifo.js';
import { tmpDir } from '../helpers/fs-util.js';

const probe = new Ring();
const have = probe.supports('syncFileRange');
await probe.close();
const skip = have ? false : 'the running kernel has no IORING_OP_SYNC_FILE_RANGE (Linux 5.2+)';

test('syncFileRange on io_uring', { skip }, async (t) => {
  const tmp = tmpDir('uringkit-sfr-');
  const ring = new Ring();
  t.after(async () => {
    await ring.close();
    tmp.remove();
  });
  const fd = fs.openSync(tmp.file('data'), 'w+');
  t.after(() => fs.closeSync(fd));
  fs.writeSync(fd, Buffer.alloc(64 * 1024, 7));

  await t.test('syncs a range, the whole file (length 0) and past the end; callback form', async () => {
    const before = ring.stats().sqes;
    assert.equal(await ring.syncFileRange(fd, 0, 4096), undefined);
    assert.equal(await ring.syncFileRange(fd, 0, 0, { waitBefore: true, write: true, waitAfter: true }), undefined);
    assert.equal(await ring.syncFileRange(fd, 1 << 30, 10, { waitAfter: true }), undefined);
    await new Promise<void>((resolve, reject) => {
      ring.syncFileRange(fd, 4096, 4096, { write: true }, (err, v) => {
        if (err) reject(err);
        else {
          assert.equal(v, undefined);
          resolve();
        }
      });
    });
    assert.equal(ring.stats().sqes - before, 4, 'one SQE each');
  });

  await t.test('the kernel\'s own errors, as SystemErrors naming sync_file_range', async () => {
    const closed = fs.openSync(tmp.file('closed'), 'w');
    fs.closeSync(closed);
    await assert.rejects(ring.syncFileRange(closed, 0, 0), { code: 'EBADF', syscall: 'sync_file_range' });
    const fifo = makeFifo();
    try {
      await assert.rejects(ring.syncFileRange(fifo.fd, 0, 0), { code: 'ESPIPE', syscall: 'sync_file_range' });
    } finally {
      fifo.close();
    }
  });

  await t.test('bad arguments are refused before anything is staged', () => {
    const before = ring.stats().sqes;
    assert.throws(() => ring.syncFileRange(fd, -1, 0), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => ring.syncFileRange(fd, 1.5, 0), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => ring.syncFileRange(fd, 0, 2 ** 32), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => ring.syncFileRange(fd, 'x' as never, 0), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => ring.syncFileRange(fd, 0, 0, { write: 1 as never }),
      { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /options\.write/ });
    assert.throws(() => ring.syncFileRange(-1, 0, 0), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => ring.syncFileRange(fd, 0, 0, { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.equal(ring.stats().sqes, before, 'nothing reached the kernel');
  });

  await t.test('an aborted signal settles it without submitting', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(ring.syncFileRange(fd, 0, 0, { signal: ac.signal }), { name: 'AbortError' });
  });
});

test('syncFileRange is an allow-list group of its own (RingOptions.allow)', { skip }, async (t) => {
  const tmp = tmpDir('uringkit-sfr-allow-');
  t.after(() => tmp.remove());
  const fd = fs.openSync(tmp.file('data'), 'w+');
  t.after(() => fs.closeSync(fd));
  let allowed: Ring;
  try {
    allowed = new Ring({ allow: ['syncFileRange'] });
  } catch (e) {
    t.skip(`restricted rings unavailable here: ${(e as Error).message}`);
    return;
  }
  const denied = new Ring({ allow: ['read'] });
  try {
    assert.equal(await allowed.syncFileRange(fd, 0, 0), undefined);
    await assert.rejects(denied.syncFileRange(fd, 0, 0), { code: 'EACCES' });
  } finally {
    await allowed.close();
    await denied.close();
  }
});

test('syncFileRange on the portable backend: an fdatasync of the file', async (t) => {
  const tmp = tmpDir('uringkit-sfr-portable-');
  const ring = new Ring({ backend: 'portable' });
  t.after(async () => {
    await ring.close();
    tmp.remove();
  });
  const fd = fs.openSync(tmp.file('data'), 'w+');
  t.after(() => fs.closeSync(fd));
  fs.writeSync(fd, 'portable');
  assert.equal(await ring.syncFileRange(fd, 0, 0, { write: true, waitAfter: true }), undefined);
  const closed = fs.openSync(tmp.file('closed'), 'w');
  fs.closeSync(closed);
  await assert.rejects(ring.syncFileRange(closed, 0, 8), { code: 'EBADF', syscall: 'sync_file_range' });
  assert.throws(() => ring.syncFileRange(fd, -1, 0), { code: 'ERR_OUT_OF_RANGE' });
});

test('syncFileRange on the mock: no model, so ENOSYS naming it, until a handler answers', async () => {
  const mock = new MockBackend({ seed: 1 });
  const ring = new Ring({ backend: mock });
  try {
    const fd = mock.openPollable('file-ish');
    await assert.rejects(ring.syncFileRange(fd, 0, 0), { code: 'ENOSYS', syscall: 'sync_file_range' });
    assert.equal(mock.unhandled[0]?.op, 'syncFileRange');
    const seen: number[] = [];
    mock.handle('syncFileRange', (req) => {
      seen.push(req.flags);
      return 0;
    });
    await ring.syncFileRange(fd, 0, 0, { waitBefore: true, write: true, waitAfter: true });
    await ring.syncFileRange(fd, 0, 0);
    assert.deepEqual(seen, [7, 2], 'the handler sees the SYNC_FILE_RANGE_* flags');
    assert.equal(mock.calls('syncFileRange').length, 3);
    mock.closeFd(fd);
  } finally {
    await ring.close();
  }
});
