/**
 * uringkit/fs write streams when a write fails with writes coalesced and in
 * flight (on the mock, which fails the n-th write on demand): one 'error',
 * then 'close', no 'finish'; no write is issued after the failure (writes
 * already in flight may still land); the fd is closed (withMock checks leaks).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';

import { createWriteStream } from '../../src/fs/promises/index.js';
import { withMock } from '../../src/testing.js';

for (const after of [0, 1, 2]) {
  test(`the write after ${after} good ones fails: one error, in order, then close`, (t) => withMock(t, async (mock) => {
    mock.faults.add({ op: ['write', 'writev'], errno: 'EIO', after, times: 1 });
    const ws = createWriteStream('/out');
    const events: string[] = [];
    ws.on('error', (e: Error & { code?: string }) => events.push(`error ${e.code}`));
    ws.on('finish', () => events.push('finish'));
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no close within 10 s')), 10_000);
      ws.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await once(ws, 'open');
    // 64 KiB chunks (above the highWaterMark: accepted ahead), then small ones; several writes in flight.
    for (let i = 0; i < 40; i++) ws.write(Buffer.alloc(65_536, i));
    for (let i = 0; i < 10; i++) ws.write(Buffer.alloc(100, 0xee));
    ws.end();
    await closed;
    events.push('close');
    assert.deepEqual(events, ['error EIO', 'close']);
    const data = mock.fs.readFile('/out');
    // Each 64 KiB block is chunk i (filled with i) where a write landed, or a hole where the failed write was
    // (writes already in flight when it failed may land past it, the 100-byte tail too: all were issued in
    // this one turn).
    for (let off = 0; off < data.length; off += 65_536) {
      const block = data.subarray(off, off + 65_536);
      const i = off / 65_536;
      const fill = i < 40 ? i : 0xee;
      assert.ok(block.every((b) => b === fill) || block.every((b) => b === 0), `block ${i}`);
    }
    assert.ok(data.length <= 40 * 65_536 + 1000, `${data.length} bytes landed`);
  }, { setDefault: true }));
}
