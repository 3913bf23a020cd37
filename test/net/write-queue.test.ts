/**
 * Socket's write queue: the callback form of write(), drain(), ordering
 * across callback, Promise and enqueue()d writes, destroy() failing writes
 * not yet started, and the chunk iterator's return().
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';

import { Socket, TcpListener } from '../../src/index.js';
import { deadline, recvExactly } from '../helpers/net-util.js';

const SOON = 10_000;

async function pair(l: TcpListener): Promise<[Socket, Socket]> {
  const accepted = l.accept();
  const c = await Socket.connect(l.address());
  return [c, await deadline(accepted, SOON, 'accept')];
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('Socket write queue', () => {
  test('callback form: returns undefined, calls back with the byte count, in order with Promise writes and tasks', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      const order: string[] = [];
      const parts = [Buffer.alloc(10, 1), Buffer.alloc(300_000, 2), Buffer.alloc(5, 3), Buffer.alloc(70_000, 4)];
      const total = parts.reduce((a, b) => a + b.length, 0) + 3;
      const reading = recvExactly(s, total);
      let called = 0;
      const r = c.write(parts[0]!, undefined, (err, n) => {
        assert.equal(err, null);
        assert.equal(n, 10);
        called++;
        order.push('cb0');
      });
      assert.equal(r, undefined);
      const p1 = c.write(parts[1]!).then((n) => order.push(`p1:${n}`));
      let inner: Promise<number> | undefined;
      const t = c.enqueue(async () => {
        order.push('task');
        // A write queued from inside the task goes to the end of the queue
        // (awaiting it here would wait for the task itself: a deadlock).
        inner = c.write('abc');
        return 3;
      });
      c.write(parts[2]!, { offset: 0, length: 5 }, (err, n) => order.push(`cb2:${err ?? n}`));
      const p3 = c.write(parts[3]!).then((n) => order.push(`p3:${n}`));
      assert.ok(c.pendingWrites >= 4);
      await deadline(c.drain(), SOON, 'drain');
      await Promise.all([p1, p3]);
      assert.equal(await t, 3);
      assert.equal(await inner, 3);
      assert.equal(called, 1);
      assert.equal(c.pendingWrites, 0);
      assert.deepEqual(order.filter((x) => x !== 'task').slice(0, 2), ['cb0', 'p1:300000']);
      const got = await deadline(reading, SOON, 'reader');
      // The task ran after parts[0..1]; its own write queued behind parts[2..3].
      assert.equal(sha(got), sha(Buffer.concat([parts[0]!, parts[1]!, parts[2]!, parts[3]!, Buffer.from('abc')])));
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('drain() on an idle socket resolves at once; close() waits for queued callback writes', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      await deadline(c.drain(), SOON, 'idle drain');
      const big = Buffer.alloc(4 << 20, 7);
      let result: string | undefined;
      c.write(big, undefined, (err, n) => (result = err ? String(err) : String(n)));
      const reading = recvExactly(s, big.length);
      await c.close();
      assert.equal(result, String(big.length), 'the write finished before close() resolved');
      assert.equal((await deadline(reading, SOON, 'reader')).length, big.length);
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('destroy(): writes not yet started fail with EPIPE through their callback or Promise', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      // Fill the socket buffers so the first write stays in the kernel.
      const first = c.write(Buffer.alloc(64 << 20)).then(() => 'ok', (e: { code?: string }) => e.code);
      const cbErr = new Promise<string | undefined>((resolve) => {
        c.write(Buffer.alloc(10), undefined, (err) => resolve((err as { code?: string } | null)?.code));
      });
      const second = c.write('x').then(() => 'ok', (e: { code?: string }) => e.code);
      c.destroy();
      assert.equal(await deadline(cbErr, SOON, 'callback'), 'EPIPE');
      assert.equal(await deadline(second, SOON, 'second'), 'EPIPE');
      assert.notEqual(await deadline(first, SOON, 'first'), 'ok', 'the blocked write fails too');
      // Issue 16 item 13: a write on a closed Socket is ERR_SOCKET_CLOSED (was the raw EBADF).
      assert.throws(() => c.write('y', undefined, () => {}), { code: 'ERR_SOCKET_CLOSED' });
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('write() validates before queueing', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      assert.throws(() => c.write(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => c.write('x', undefined, 'cb' as never), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => c.write('x', 5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => c.write('abc', { offset: 4 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => c.write('abc', { offset: 1, length: 3 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(c.pendingWrites, 0);
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('chunks(): breaking out stops receiving; the socket can be read again, nothing lost after the break', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      await c.write('first');
      for await (const chunk of s) {
        assert.equal(chunk.toString(), 'first');
        break; // return(): resolves once no receive is left in the kernel
      }
      await c.write('second');
      const buf = Buffer.alloc(16);
      const n = await deadline(s.recv(buf), SOON, 'recv after break');
      assert.equal(buf.toString('utf8', 0, n), 'second');
      const it = s.chunks();
      await c.write('third');
      const r = await deadline(it.next(), SOON, 'next');
      assert.equal(r.done, false);
      assert.equal(r.value!.toString(), 'third');
      await c.shutdown('write');
      assert.deepEqual(await deadline(it.next(), SOON, 'eof'), { value: undefined, done: true });
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('chunks({ signal }): an abort rejects the pending next() with an AbortError; the socket can be read again', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      const ac = new AbortController();
      const it = s.chunks({ signal: ac.signal });
      const pending = it.next();
      ac.abort(new Error('enough'));
      const e = await deadline(pending.then(() => undefined, (err: Error) => err), SOON, 'aborted next');
      assert.equal(e?.name, 'AbortError');
      await it.return();
      await c.write('after');
      const buf = Buffer.alloc(16);
      const n = await deadline(s.recv(buf), SOON, 'recv after abort');
      assert.equal(buf.toString('utf8', 0, n), 'after');
      assert.throws(() => s.chunks({ timeout: 5 }), { code: 'ERR_INVALID_ARG_TYPE' });
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });
});
