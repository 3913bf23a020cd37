/**
 * Zero-copy sends: the per-write switch, the Socket's policy (mode and
 * threshold, 'auto' = never to a peer on this host), bytes intact on both
 * sides of the threshold, and (on the mock, where the notification can be
 * held back) the buffer pinned until the kernel's notification CQE.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import os from 'node:os';
import { describe, test } from 'node:test';

import { IORING_OP } from '../../src/ring/constants.js';
import { Ring, Socket, TcpListener } from '../../src/index.js';
import { withMock } from '../../src/testing.js';
import { deadline, recvExactly } from '../helpers/net-util.js';

const SOON = 10_000;
const hasZc = Ring.current().supports(IORING_OP.SEND_ZC);

async function pair(l: TcpListener, host?: string): Promise<[Socket, Socket]> {
  const accepted = l.accept();
  const c = await Socket.connect(host === undefined ? l.address() : `${host}:${l.address().port}`);
  return [c, await deadline(accepted, SOON, 'accept')];
}

/** The names of the send operations submitted on `fd` while `fn` runs ('send' or 'sendZc'). */
async function sendOps(fd: number, fn: () => Promise<void>): Promise<string[]> {
  const ops: string[] = [];
  const on = (m: unknown): void => {
    const { op, fd: f } = m as { op: string; fd: number };
    if (f === fd && (op === 'send' || op === 'sendZc')) ops.push(op);
  };
  dc.subscribe('uringkit:op:submit', on);
  try {
    await fn();
  } finally {
    dc.unsubscribe('uringkit:op:submit', on);
  }
  return ops;
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('zero-copy policy (real kernel)', { skip: hasZc ? false : 'no IORING_OP_SEND_ZC (Linux < 6.0)' }, () => {
  test('defaults: mode auto, threshold 64 KiB; setZeroCopy validates', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      assert.deepEqual(c.zeroCopy, { mode: 'auto', threshold: 65536 });
      assert.throws(() => c.setZeroCopy('yes' as never), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => c.setZeroCopy(true, -1), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => c.setZeroCopy(true, 1.5), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => c.write('x', { zeroCopy: 'sometimes' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.deepEqual(c.setZeroCopy(false, 1024).zeroCopy, { mode: false, threshold: 1024 });
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('mode true: writes below the threshold use send, at and above it SEND_ZC; bytes arrive intact and in order', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      const threshold = 64 * 1024;
      c.setZeroCopy(true, threshold);
      const sizes = [1, threshold - 1, threshold, 4 * threshold, 4096, 1 << 20];
      const bufs = sizes.map((n, i) => pattern(n, i));
      const total = sizes.reduce((a, b) => a + b, 0);
      let got: Buffer | undefined;
      const ops = await sendOps(c.fd, async () => {
        const reading = recvExactly(s, total);
        const written = await Promise.all(bufs.map((b) => c.write(b)));
        assert.deepEqual(written, sizes);
        got = await deadline(reading, SOON, 'reader');
      });
      assert.equal(sha(got!), sha(Buffer.concat(bufs)), 'bytes arrive complete and in write order');
      // Short sends are continued with the same kind of operation: look at the first op per write only.
      assert.equal(ops[0], 'send', `1 byte: ${ops.join(',')}`);
      assert.ok(ops.includes('sendZc'), `large writes used SEND_ZC: ${ops.join(',')}`);
      const zc = ops.filter((o) => o === 'sendZc').length;
      assert.ok(zc >= 3, `the three writes >= threshold used SEND_ZC (${ops.join(',')})`);
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test("'auto' never uses SEND_ZC to a peer on this host (loopback, or our own address)", async () => {
    const own = Object.values(os.networkInterfaces()).flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
    for (const host of ['127.0.0.1', ...(own !== undefined ? [own] : [])]) {
      const l = TcpListener.bind({ host: host === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0' });
      try {
        const [c, s] = await pair(l, host);
        c.setZeroCopy('auto', 1024);
        const b = pattern(256 * 1024, 7);
        const ops = await sendOps(c.fd, async () => {
          const reading = recvExactly(s, b.length);
          await c.write(b);
          assert.equal(sha(await deadline(reading, SOON, 'reader')), sha(b));
        });
        assert.ok(ops.length >= 1 && ops.every((o) => o === 'send'), `${host}: ${ops.join(',')}`);
        await c.close();
        await s.close();
      } finally {
        await l.close();
      }
    }
  });

  test('per-write zeroCopy overrides the policy: true at any size, false never', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      c.setZeroCopy(true, 1);
      const small = pattern(100, 1);
      const big = pattern(200_000, 2);
      const ops = await sendOps(c.fd, async () => {
        const reading = recvExactly(s, small.length + big.length);
        await c.write(small, { zeroCopy: true });
        await c.write(big, { zeroCopy: false });
        assert.equal(sha(await deadline(reading, SOON, 'reader')), sha(Buffer.concat([small, big])));
      });
      assert.equal(ops[0], 'sendZc');
      assert.ok(ops.slice(1).every((o) => o === 'send'), ops.join(','));
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('a zero-copy write refused before submission (bad options) settles, and the queue and drain() go on', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      const bad = c.write(pattern(100_000, 4), { zeroCopy: true, signal: 'nope' as unknown as AbortSignal });
      const good = pattern(1000, 5);
      const reading = recvExactly(s, good.length);
      const next = c.write(good);
      const err = await deadline(bad.then(() => undefined, (e: { code?: string }) => e), SOON, 'the refused write');
      assert.equal(err?.code, 'ERR_INVALID_ARG_TYPE');
      assert.equal(await deadline(next, SOON, 'the next write'), good.length);
      assert.equal(sha(await deadline(reading, SOON, 'reader')), sha(good));
      await deadline(c.drain(), SOON, 'drain()');
      assert.equal(c.pendingWrites, 0);
      await c.close();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('a zero-copy write to a peer that went away fails (EPIPE or ECONNRESET), never SIGPIPE', async () => {
    const l = TcpListener.bind();
    try {
      const [c, s] = await pair(l);
      s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      const b = pattern(1 << 20, 3);
      let err: { code?: string } | undefined;
      for (let i = 0; i < 20 && err === undefined; i++) {
        err = await c.write(b, { zeroCopy: true }).then(() => undefined, (e: { code?: string }) => e);
      }
      assert.ok(err !== undefined && ['EPIPE', 'ECONNRESET'].includes(err.code!), `got ${String(err?.code)}`);
      await c.close();
    } finally {
      await l.close();
    }
  });
});

describe('zero-copy on the mock: the buffer stays pinned until the notification CQE', () => {
  test('ring.send(zeroCopy): settles with the result, the slot (and its buffer) lives until the notification', (t) =>
    withMock(t, async (mock, ring) => {
      let release!: () => void;
      const notified = new Promise<void>((r) => (release = r));
      let seen: Uint8Array | undefined;
      mock.handle('sendZc', (req) => {
        seen = Buffer.from(req.buffer!);
        return { res: req.length, notify: notified };
      });
      const fd = mock.openPollable('socket');
      const data = pattern(4096, 9);
      assert.equal(await ring.send(fd, data, { zeroCopy: true }), 4096);
      assert.equal(sha(seen!), sha(data));
      // The result came; the notification did not: the operation still holds its pin.
      await new Promise((r) => setImmediate(r));
      assert.equal(ring.stats().inFlight, 1, 'in flight until the notification CQE');
      release();
      for (let i = 0; i < 20 && ring.stats().inFlight !== 0; i++) await new Promise((r) => setImmediate(r));
      assert.equal(ring.stats().inFlight, 0, 'released by the notification CQE');
      await ring.closeFd(fd);
    }, { handlers: { sendZc: () => 0 } }));

  test('Socket.write with mode true: both sides of the threshold; a zero-copy write settles at its notification', (t) =>
    withMock(t, async (mock, ring) => {
      const releases: (() => void)[] = [];
      const sent: Buffer[] = [];
      const kinds: string[] = [];
      mock.handle('sendZc', (req) => {
        kinds.push('sendZc');
        sent.push(Buffer.from(req.buffer!));
        return { res: req.length, notify: new Promise<void>((r) => releases.push(r)) };
      });
      mock.handle('send', (req) => {
        kinds.push('send');
        sent.push(Buffer.from(req.buffer!));
        return req.length;
      });
      const fd = mock.openPollable('socket');
      const s = new Socket(fd, ring);
      s.setZeroCopy(true, 1000);
      const a = pattern(999, 1);
      const b = pattern(1000, 2);
      const c = pattern(5000, 3);
      const settled: string[] = [];
      const wa = s.write(a).then((n) => settled.push(`a:${n}`));
      const wb = s.write(b).then((n) => settled.push(`b:${n}`));
      const wc = s.write(c).then((n) => settled.push(`c:${n}`));
      const tick = async (until: () => boolean): Promise<void> => {
        for (let i = 0; i < 50 && !until(); i++) await new Promise((r) => setImmediate(r));
      };
      // The queue does not wait for notifications: all three are sent, in order.
      await tick(() => kinds.length === 3 && settled.length === 1);
      assert.deepEqual(kinds, ['send', 'sendZc', 'sendZc']);
      assert.equal(sha(Buffer.concat(sent)), sha(Buffer.concat([a, b, c])));
      assert.deepEqual(settled, ['a:999'], 'the zero-copy writes wait for their notifications');
      assert.equal(ring.stats().inFlight, 2, 'their slots still pin the buffers');
      assert.equal(s.pendingWrites, 2);
      let drained = false;
      const dr = s.drain().then(() => (drained = true));
      releases[0]!();
      await tick(() => settled.length === 2);
      assert.deepEqual(settled, ['a:999', 'b:1000']);
      assert.equal(ring.stats().inFlight, 1);
      assert.equal(drained, false);
      releases[1]!();
      await Promise.all([wa, wb, wc, dr]);
      assert.deepEqual(settled, ['a:999', 'b:1000', 'c:5000']);
      assert.equal(ring.stats().inFlight, 0);
      await s.close();
    }, { handlers: { sendZc: () => 0, send: () => 0, shutdown: () => 0 } }));
});
