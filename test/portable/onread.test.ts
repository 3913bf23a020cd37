/**
 * The portable backend's receive path (src/backend/portable/sockets.ts):
 * libuv reads every socket into one shared buffer (net.Socket's `onread`)
 * and each read's bytes are copied out at once, straight into the provided
 * buffers of a waiting multishot recv, else into the handle's inbox. One read
 * may fill several provided buffers; when the pool runs dry in the middle of
 * a read the multishot ends with ENOBUFS and the rest of that read waits in
 * the inbox, in order, for the next receive. Every byte arrives once, in
 * order, whichever way it went; reads of other sockets in between (the shared
 * buffer reused) change nothing already delivered.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { after, describe, test } from 'node:test';

import { NativeStat } from '../../src/backend/protocol.js';
import { BufRing, IORING_CQE_BUFFER_SHIFT, IORING_CQE_F_BUFFER, IORING_CQE_F_MORE, Op, PortableRing }
  from '../../src/backend/portable/engine.js';
import { StreamHandle } from '../../src/backend/portable/sockets.js';
import { AF_INET } from '../../src/backend/shared/sockaddr.js';

const E = os.constants.errno;
const SOON = 20_000;
const RECV = 27;

/** A PortableRing outside any Ring whose completions ([res, flags] per slot) are collected as they are handed over. */
function collectingRing(): { r: PortableRing; cqes: Map<number, [number, number][]>; changed: () => Promise<void> } {
  const cqes = new Map<number, [number, number][]>();
  let wake: (() => void) | undefined;
  const r: PortableRing = new PortableRing(new Int32Array(16 + 16 * 4), new Int32Array(64 * 4),
    new Float64Array(NativeStat.COUNT), new Int32Array(3), () => {
      for (let n = r.deliver(); n > 0; n = r.deliver()) {
        for (let i = 0; i < n; i++) {
          const slot = r.out[i * 4]!;
          const list = cqes.get(slot) ?? [];
          list.push([r.out[i * 4 + 2]!, r.out[i * 4 + 3]!]);
          cqes.set(slot, list);
        }
      }
      wake?.();
    }, 4, 8, 0);
  const changed = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  return { r, cqes, changed };
}

/** Every pair connectedHandle() made: closed after the suite. */
const open: { h: StreamHandle; peer: net.Socket; srv: net.Server }[] = [];

/** A connected pair: a StreamHandle wired to a net.Socket made with its readOptions(), and the node:net peer (listed in `open`). */
async function connectedHandle(): Promise<{ h: StreamHandle; peer: net.Socket; srv: net.Server }> {
  let take!: (s: net.Socket) => void;
  const peerP = new Promise<net.Socket>((resolve) => (take = resolve));
  const srv = net.createServer((s) => take(s));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const h = new StreamHandle(AF_INET);
  const sock = new net.Socket({ allowHalfOpen: true, onread: h.readOptions() } as net.SocketConstructorOpts);
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.connect((srv.address() as net.AddressInfo).port, '127.0.0.1', resolve);
  });
  h.attach(sock);
  const pair = { h, peer: await peerP, srv };
  open.push(pair);
  return pair;
}

/** Waits (bounded) until `cond()` holds, checking after each hand-over of completions. */
async function until(cond: () => boolean, changed: () => Promise<void>, what: string): Promise<void> {
  const limit = Date.now() + SOON;
  while (!cond()) {
    if (Date.now() > limit) assert.fail(`timed out waiting for ${what}`);
    await Promise.race([changed(), new Promise((resolve) => setTimeout(resolve, 50))]);
  }
}

/**
 * One-shot receives of `size` bytes of room each (slots from `firstSlot` on), one after
 * the other, until `received` holds `total` bytes; returns the bytes, in order.
 */
async function recvRest(r: PortableRing, c: { h: StreamHandle }, cqes: Map<number, [number, number][]>,
  changed: () => Promise<void>, received: Buffer, total: number, firstSlot: number, size: number): Promise<Buffer> {
  for (let slot = firstSlot; received.length < total; slot++) {
    const view = new Uint8Array(size);
    const op = new Op(r, slot, slot << 2, RECV, -1, false);
    r.pending.set(slot, op);
    c.h.recv(op, view, 0);
    await until(() => op.done && cqes.get(slot) !== undefined, changed, `one-shot receive ${slot}`);
    const [res] = cqes.get(slot)![0]!;
    assert.ok(res > 0, `receive ${slot} got bytes (${res})`);
    received = Buffer.concat([received, view.subarray(0, res)]);
  }
  return received;
}

describe('portable backend: reads through onread into provided buffers and the inbox', () => {
  after(() => {
    for (const c of open) {
      c.h.close();
      c.peer.destroy();
      c.srv.close();
    }
  });

  test('one read spans several provided buffers; the pool runs dry mid-read: ENOBUFS, the rest waits in the inbox, in order', async () => {
    const { r, cqes, changed } = collectingRing();
    const c = await connectedHandle();
    const SIZE = 64;
    const COUNT = 4;
    const memory = new Uint8Array(SIZE * COUNT);
    const pool = new BufRing(memory, SIZE, COUNT);
    const multi = new Op(r, 1, 1 << 2, 0, -1, true);
    r.pending.set(1, multi);
    c.h.recvMultishot(multi, pool, 0);
    // 1000 bytes: more than the pool holds (256), so the multishot must end with ENOBUFS after 4 buffers.
    const data = Buffer.alloc(1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    c.peer.write(data);
    await until(() => multi.done, changed, 'the multishot to end');
    const list = cqes.get(1)!;
    const last = list[list.length - 1]!;
    assert.deepEqual(last, [-E.ENOBUFS, 0], 'ends with ENOBUFS, no F_MORE');
    const chunks = list.slice(0, -1);
    assert.equal(chunks.length, COUNT, 'every buffer of the pool was filled before ENOBUFS');
    const got: Buffer[] = [];
    const bids = new Set<number>();
    for (const [res, flags] of chunks) {
      assert.equal(flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER), IORING_CQE_F_MORE | IORING_CQE_F_BUFFER);
      const bid = flags >>> IORING_CQE_BUFFER_SHIFT;
      assert.ok(bid >= 0 && bid < COUNT && !bids.has(bid), `buffer id ${bid} used once`);
      bids.add(bid);
      assert.ok(res > 0 && res <= SIZE, `chunk of ${res} bytes fits its buffer`);
      got.push(Buffer.from(memory.subarray(bid * SIZE, bid * SIZE + res)));
    }
    assert.equal(pool.take(), undefined, 'the pool is dry');
    // The rest: one-shot receives take it from the inbox (and whatever is still arriving), in order.
    const received = await recvRest(r, c, cqes, changed, Buffer.concat(got), data.length, 2, 4096);
    assert.ok(received.equals(data), 'every byte once, in order');
    r.destroy();
  });

  test('one-shot recvs waiting get the bytes in their own memory, in order; what they cannot take waits in the inbox', async () => {
    const { r, cqes, changed } = collectingRing();
    const c = await connectedHandle();
    // Three recvs wait before anything arrives: 10, 20 and 30 bytes of room.
    const views = [new Uint8Array(10), new Uint8Array(20), new Uint8Array(30)];
    const ops = views.map((view, i) => {
      const op = new Op(r, 10 + i, (10 + i) << 2, RECV, -1, false);
      r.pending.set(10 + i, op);
      c.h.recv(op, view, 0);
      return op;
    });
    assert.ok(ops.every((op) => !op.done), 'nothing to read yet: all three wait');
    const data = Buffer.alloc(500);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13 + 1) & 0xff;
    c.peer.write(data);
    await until(() => ops.every((op) => op.done), changed, 'the three recvs');
    const first = ops.map((_, i) => {
      const [res] = cqes.get(10 + i)![0]!;
      assert.ok(res > 0 && res <= views[i]!.length, `recv ${i}: ${res} bytes`);
      return views[i]!.subarray(0, res);
    });
    const received = await recvRest(r, c, cqes, changed, Buffer.concat(first), data.length, 20, 1000);
    assert.ok(received.equals(data), 'every byte once, in order');
    r.destroy();
  });

  test("the shared read buffer's reuse by another socket leaves delivered bytes as they were", async () => {
    const { r, cqes, changed } = collectingRing();
    const a = await connectedHandle();
    const b = await connectedHandle();
    const memA = new Uint8Array(16 * 1024 * 4);
    const poolA = new BufRing(memA, 16 * 1024, 4);
    const multi = new Op(r, 1, 1 << 2, 0, -1, true);
    r.pending.set(1, multi);
    a.h.recvMultishot(multi, poolA, 0);
    a.peer.write(Buffer.alloc(100, 0xaa));
    const aBytes = (): number => (cqes.get(1) ?? []).reduce((sum, [res]) => sum + res, 0);
    await until(() => aBytes() === 100, changed, "a's 100 bytes");
    // b's bytes go through the same read buffer (into b's inbox: no receive waits there).
    b.peer.write(Buffer.alloc(3000, 0x55));
    const view = new Uint8Array(4096);
    let bGot = 0;
    while (bGot < 3000) {
      const o = new Op(r, 3, 3 << 2, RECV, -1, false);
      r.pending.set(3, o);
      cqes.delete(3);
      b.h.recv(o, view, 0);
      await until(() => cqes.get(3) !== undefined, changed, "b's bytes");
      const [res] = cqes.get(3)![0]!;
      assert.ok(res > 0);
      assert.ok(view.subarray(0, res).every((x) => x === 0x55), "b's bytes are b's");
      bGot += res;
    }
    let aGot = 0;
    for (const [res, flags] of cqes.get(1)!) {
      const bid = flags >>> IORING_CQE_BUFFER_SHIFT;
      assert.ok(memA.subarray(bid * 16 * 1024, bid * 16 * 1024 + res).every((x) => x === 0xaa), "a's bytes are a's");
      aGot += res;
    }
    assert.equal(aGot, 100);
    r.destroy();
  });
  test('a multishot with a byte limit (IORING_RECV_MSHOT_LIM) ends with its last buffer at the limit, from a read and from the inbox', async () => {
    const { r, cqes, changed } = collectingRing();
    const c = await connectedHandle();
    const SIZE = 64;
    const COUNT = 16;
    const memory = new Uint8Array(SIZE * COUNT);
    const pool = new BufRing(memory, SIZE, COUNT);
    const data = Buffer.alloc(1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 11 + 5) & 0xff;
    const got: Buffer[] = [];
    /** Checks a limited multishot's CQEs: F_MORE buffers, then the last one (a buffer, no F_MORE), `limit` bytes in all. */
    const check = (slot: number, limit: number): void => {
      const list = cqes.get(slot)!;
      let bytes = 0;
      list.forEach(([res, flags], i) => {
        const last = i === list.length - 1;
        assert.equal(flags & IORING_CQE_F_BUFFER, IORING_CQE_F_BUFFER, 'every CQE carries a buffer');
        assert.equal(flags & IORING_CQE_F_MORE, last ? 0 : IORING_CQE_F_MORE, last ? 'the last ends it' : 'F_MORE before the last');
        assert.ok(res > 0 && res <= SIZE);
        const bid = flags >>> IORING_CQE_BUFFER_SHIFT;
        got.push(Buffer.from(memory.subarray(bid * SIZE, bid * SIZE + res)));
        pool.recycle(bid);
        bytes += res;
      });
      assert.equal(bytes, limit, 'exactly the limit');
    };
    // Armed before the bytes arrive: filled straight from the read.
    const first = new Op(r, 1, 1 << 2, 0, -1, true);
    r.pending.set(1, first);
    c.h.recvMultishot(first, pool, 0, 150);
    c.peer.write(data);
    await until(() => first.done, changed, 'the first multishot to reach its limit');
    check(1, 150);
    // The rest waits in the inbox; a second limited multishot takes from there.
    await until(() => c.h.inbox.bytes === data.length - 150, changed, 'the rest in the inbox');
    const second = new Op(r, 2, 2 << 2, 0, -1, true);
    r.pending.set(2, second);
    c.h.recvMultishot(second, pool, 0, 200);
    assert.ok(second.done, 'the inbox alone reaches the limit');
    check(2, 200);
    const received = await recvRest(r, c, cqes, changed, Buffer.concat(got), data.length, 3, 4096);
    assert.ok(received.equals(data), 'every byte once, in order');
    r.destroy();
  });
});
