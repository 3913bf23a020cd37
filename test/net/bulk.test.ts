/**
 * Bulk data (issue 15): 1 GiB received byte-exact through iteration (the
 * one receive pump switching between multishot and one-shot receives) and
 * through recv() into a caller-owned buffer; pipeTo's argument checks and
 * abort; bounded memory with a slow consumer; the provided-buffer pool
 * running dry under many connections. pipeTo's transfers (1 GiB, resets on
 * either side, a stalled or slow destination) are in bulk-pipe.test.ts.
 *
 * The 1 GiB sender is a child process (node:net) that hashes what it sends,
 * so every byte is checked against an independent implementation; memory
 * stays bounded on both sides (streaming SHA-256, 1 MiB blocks).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';

import { nativeBinding, Ring, Socket, TcpListener } from '../../src/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { DescOp, Rec } from '../../src/backend/protocol.js';
import { requireKernel } from '../../src/ops/core.js';
import { bufferPool } from '../../src/ops/socket.js';
import { deadline, rejectionOf, sleep } from '../helpers/net-util.js';
import { socketBuffersSkipReason } from '../portable/socket-buffers.js';
import { sendFromChild } from './bulk-util.js';

const GiB = 1 << 30;
/** Bound for a 1 GiB transfer on a loaded 2-core machine: against hangs only. */
const BULK_BOUND = 240_000;
const SOON = 10_000;

after(() => Ring.current().close());

describe('bulk receive: 1 GiB byte-exact', () => {
  test('for await over a Socket: every byte arrives in order (SHA-256), chunks never empty', async () => {
    const l = TcpListener.bind();
    try {
      const sent = sendFromChild(l.address().port, GiB);
      const s = await deadline(l.accept(), SOON, 'accept');
      const h = createHash('sha256');
      let bytes = 0;
      let largest = 0;
      await deadline((async () => {
        for await (const chunk of s) {
          assert.ok(chunk.length > 0);
          largest = Math.max(largest, chunk.length);
          h.update(chunk);
          bytes += chunk.length;
        }
      })(), BULK_BOUND, 'receive 1 GiB');
      await s.close();
      assert.equal(bytes, GiB);
      assert.equal(h.digest('hex'), await deadline(sent, SOON, 'sender'));
      assert.ok(largest <= 256 * 1024, `no chunk beyond the default chunkSize (largest ${largest})`);
    } finally {
      await l.close();
    }
  });

  test('recv() into one caller-owned buffer, reused: every byte arrives in order (SHA-256)', async () => {
    const l = TcpListener.bind();
    try {
      const sent = sendFromChild(l.address().port, GiB);
      const s = await deadline(l.accept(), SOON, 'accept');
      const h = createHash('sha256');
      const buf = Buffer.allocUnsafe(256 * 1024);
      let bytes = 0;
      await deadline((async () => {
        for (;;) {
          const n = await s.recv(buf);
          if (n === 0) break;
          h.update(buf.subarray(0, n));
          bytes += n;
        }
      })(), BULK_BOUND, 'receive 1 GiB');
      await s.close();
      assert.equal(bytes, GiB);
      assert.equal(h.digest('hex'), await deadline(sent, SOON, 'sender'));
    } finally {
      await l.close();
    }
  });

  test('chunkSize bounds the chunks; a bad chunkSize is refused with a code', async () => {
    const l = TcpListener.bind();
    try {
      const sent = sendFromChild(l.address().port, 32 << 20);
      const s = await deadline(l.accept(), SOON, 'accept');
      assert.throws(() => s.chunks({ chunkSize: 10 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => s.chunks({ chunkSize: '4k' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
      const h = createHash('sha256');
      let bytes = 0;
      for await (const chunk of s.chunks({ chunkSize: 8192 })) {
        assert.ok(chunk.length > 0 && chunk.length <= 16 * 1024, `chunk of ${chunk.length}`);
        h.update(chunk);
        bytes += chunk.length;
      }
      await s.close();
      assert.equal(bytes, 32 << 20);
      assert.equal(h.digest('hex'), await deadline(sent, SOON, 'sender'));
    } finally {
      await l.close();
    }
  });
});

describe('Socket.pipeTo', () => {
  // 1 GiB, resets on either side, a stalled destination: test/net/bulk-pipe.test.ts (each mode).
  test('bad arguments are refused with a code; an abort destroys both sides', async () => {
    const l = TcpListener.bind();
    try {
      const aP = l.accept();
      const client = await Socket.connect(l.address());
      const a = await aP;
      await assert.rejects(a.pipeTo({} as Socket), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(a.pipeTo(a), { code: 'ERR_INVALID_ARG_VALUE' });
      await assert.rejects(a.pipeTo(client, { chunkSize: 1 }), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(a.pipeTo(client, { end: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(a.pipeTo(client, null as unknown as undefined), { code: 'ERR_INVALID_ARG_TYPE' });
      const ac = new AbortController();
      const piping = a.pipeTo(client, { signal: ac.signal });
      await assert.rejects(a.recv(Buffer.alloc(1)), { code: 'ERR_SOCKET_RECV_PENDING' });
      ac.abort();
      const e = await deadline(rejectionOf(piping, 'pipeTo'), SOON, 'aborted pipe');
      assert.equal(e.name, 'AbortError');
      assert.equal(a.closed, true);
      assert.equal(client.closed, true);
    } finally {
      await l.close();
    }
  });
});

/** Why a kernel-backed ring here cannot limit a multishot recv's bytes (IORING_RECV_MSHOT_LIM, Linux 6.17), or undefined. */
function multishotLimitSkipReason(ring: Ring): string | undefined {
  if (ring.info.backend !== 'io_uring') return undefined; // the portable backend implements the limit itself
  if (bufferPool(ring) === null) return 'precondition: no provided-buffer rings (multishot recv) on this kernel';
  try {
    requireKernel('a limited multishot recv', 'IORING_RECV_MSHOT_LIM', 6, 17);
    return undefined;
  } catch (e) {
    return `precondition: ${(e as Error).message}`;
  }
}

/**
 * Bytes that came in chunks no larger than one provided buffer (16 KiB)
 * before the first larger chunk: what the multishot recv took from the
 * ring's shared pool before the receive pump switched to one-shot receives.
 */
async function multishotBytesBeforeBulk(s: Socket, total: number): Promise<{ small: number; bytes: number }> {
  let small = 0;
  let bulk = false;
  let bytes = 0;
  for await (const chunk of s) {
    if (chunk.length > 16 * 1024) bulk = true;
    if (!bulk) small += chunk.length;
    bytes += chunk.length;
    if (bytes >= total) break;
  }
  return { small, bytes };
}

describe('the multishot byte limit: one bulk connection cannot drain the shared pool', () => {
  test('a fast sender: at most 64 KiB go through provided buffers before one-shot receives take over',
    { skip: multishotLimitSkipReason(Ring.current()) }, async () => {
      const l = TcpListener.bind();
      try {
        const aP = l.accept();
        const client = await Socket.connect(l.address());
        const s = await aP;
        const total = 8 << 20;
        const writing = client.write(Buffer.alloc(total, 7));
        await sleep(100); // let the kernel queue what it can before anyone reads
        const got = await deadline(multishotBytesBeforeBulk(s, total), 60_000, 'receive');
        await writing;
        assert.equal(got.bytes, total);
        // Without the limit the first multishot takes everything queued (MiBs, up to the whole 8 MiB pool).
        assert.ok(got.small <= 64 * 1024, `${got.small} bytes came through provided buffers`);
        client.destroy();
        await s.close();
      } finally {
        await l.close();
      }
    });

  test('a kernel that refuses the limit (EINVAL, before 6.17): the ring arms its multishots without one, no byte lost',
    { skip: Ring.current().info.backend === 'io_uring' ? undefined : 'precondition: the io_uring backend (the portable one never refuses)' },
    async () => {
      // The addon, with every limited multishot recv made invalid (MSG_WAITALL) as an older kernel would refuse it.
      const inner = nativeBinding() as unknown as Backend;
      let stage: Int32Array | undefined;
      let refused = 0;
      let unlimited = 0;
      const MSG_WAITALL = 0x100;
      const backend: Backend = Object.assign(Object.create(inner) as Backend, {
        create(...args: Parameters<Backend['create']>) {
          stage = args[3];
          return inner.create(...args);
        },
        flush(...args: Parameters<Backend['flush']>) {
          const st = stage!;
          for (let i = 0; i < st[0]!; i++) {
            const base = inner.STAGE_HEADER_WORDS + i * inner.DESC_WORDS;
            if ((st[base + Rec.OP_FLAGS]! & 0xff) !== DescOp.RECV_MULTI) continue;
            if (st[base + Rec.ARG2] !== 0) {
              st[base + Rec.ARG0] = st[base + Rec.ARG0]! | MSG_WAITALL;
              refused++;
            } else unlimited++;
          }
          return inner.flush(...args); // as called: the addon counts its arguments
        },
      });
      const ring = new Ring({ backend });
      const l = TcpListener.bind({ ring });
      try {
        if (bufferPool(ring) === null) return; // no multishot at all on this kernel: nothing to refuse
        const aP = l.accept();
        const client = await Socket.connect(l.address());
        const s = await aP;
        const data = Buffer.alloc(1 << 20);
        for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
        const writing = client.write(data).then(() => client.shutdown('write'));
        const h = createHash('sha256');
        let bytes = 0;
        for await (const chunk of s) {
          h.update(chunk);
          bytes += chunk.length;
        }
        await writing;
        assert.equal(bytes, data.length);
        assert.equal(h.digest('hex'), createHash('sha256').update(data).digest('hex'));
        assert.equal(refused, 1, 'one limited arm was refused, then none was tried on this ring');
        assert.ok(unlimited >= 1, 'the multishot was armed again without a limit');
        // A second connection on the same ring goes straight to unlimited multishots.
        const bP = l.accept();
        const c2 = await Socket.connect(l.address());
        const s2 = await bP;
        await c2.write(Buffer.from('hello'));
        await c2.shutdown('write');
        const chunks: Buffer[] = [];
        for await (const chunk of s2) chunks.push(chunk);
        assert.equal(Buffer.concat(chunks).toString(), 'hello');
        assert.equal(refused, 1);
        client.destroy();
        c2.destroy();
        await s.close();
        await s2.close();
      } finally {
        await l.close();
        await ring.close();
      }
    });
});

describe('bulk busy poll (RingOptions.bulkBusyPollUs)', () => {
  const skip = Ring.current().info.backend === 'io_uring' ? undefined : 'precondition: busy poll needs the io_uring addon';

  /** Receives `bytes` from a child sender with recv() into `size`-byte buffers on `ring`; returns the busy polls started meanwhile, then after the close. */
  async function spinsWhileReceiving(ring: Ring, size: number, bytes: number): Promise<{ during: number; after: number }> {
    const l = TcpListener.bind({ ring });
    try {
      const sent = sendFromChild(l.address().port, bytes);
      const s = await deadline(l.accept(), SOON, 'accept');
      const before = ring.busyPollStats().spins;
      const buf = Buffer.allocUnsafe(size);
      let got = 0;
      await deadline((async () => {
        for (let n; (n = await s.recv(buf)) > 0;) got += n;
      })(), BULK_BOUND, 'receive');
      assert.equal(got, bytes);
      const during = ring.busyPollStats().spins - before;
      await s.close();
      await deadline(sent, SOON, 'sender');
      await sleep(50); // the bulk window (5 ms after the last bulk receive) is over
      // Idle with an operation in flight: a busy poll still on would spin here.
      const idle = TcpListener.bind({ ring });
      const c = await Socket.connect(idle.address(), { ring });
      const peer = await idle.accept();
      const start = ring.busyPollStats().spins;
      const waiting = c.recv(Buffer.alloc(16));
      await sleep(100);
      const after = ring.busyPollStats().spins - start;
      peer.destroy();
      await waiting.catch(() => 0);
      await c.close();
      await idle.close();
      return { during, after };
    } finally {
      await l.close();
    }
  }

  test('recv() of 64 KiB or more per receive spins while it lasts, not after; small receives and 0 do not', { skip },
    async () => {
      const on = new Ring();
      try {
        const r = await spinsWhileReceiving(on, 128 * 1024, 32 << 20);
        assert.ok(r.during > 0, `busy polls while bulk data came: ${r.during}`);
        assert.equal(r.after, 0, 'none once the socket closed');
        const small = await spinsWhileReceiving(on, 16 * 1024, 8 << 20);
        assert.equal(small.during, 0, 'receives of 16 KiB are not bulk');
      } finally {
        await on.close();
      }
      const off = new Ring({ bulkBusyPollUs: 0 });
      try {
        assert.equal((await spinsWhileReceiving(off, 128 * 1024, 32 << 20)).during, 0, 'bulkBusyPollUs: 0 turns it off');
        off.bulkBusyPollUs = 50;
        assert.ok((await spinsWhileReceiving(off, 128 * 1024, 32 << 20)).during > 0, 'and ring.bulkBusyPollUs turns it on');
      } finally {
        await off.close();
      }
    });

  test('a peer that sends one burst and then idles with the connection open stops the spin within milliseconds', { skip },
    async () => {
      const ring = new Ring();
      const l = TcpListener.bind({ ring });
      try {
        const aP = l.accept();
        const c = await Socket.connect(l.address(), { ring });
        const s = await aP;
        await c.write(Buffer.alloc(1 << 20, 3));
        const buf = Buffer.allocUnsafe(128 * 1024);
        let got = 0;
        while (got < 1 << 20) got += await s.recv(buf);
        const waiting = s.recv(buf); // pending: the peer now idles, the connection stays open
        await sleep(50);
        const start = ring.busyPollStats().spins;
        await sleep(150);
        assert.equal(ring.busyPollStats().spins - start, 0, 'no spin while the bulk peer idles');
        c.destroy();
        await waiting.catch(() => 0);
        await s.close();
      } finally {
        await l.close();
        await ring.close();
      }
    });

  test('bad values are refused with a code; the value is readable', async () => {
    const r = new Ring({ bulkBusyPollUs: 7 });
    assert.equal(r.bulkBusyPollUs, 7);
    r.bulkBusyPollUs = 0;
    assert.equal(r.bulkBusyPollUs, 0);
    assert.throws(() => (r.bulkBusyPollUs = -5), { code: 'ERR_OUT_OF_RANGE' });
    await r.close();
    assert.throws(() => (r.bulkBusyPollUs = 5), { code: 'ERR_RING_CLOSED' });
    assert.equal(Ring.current().bulkBusyPollUs, 50, 'the default');
    assert.throws(() => new Ring({ bulkBusyPollUs: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new Ring({ bulkBusyPollUs: 1.5 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new Ring({ bulkBusyPollUs: '50' as unknown as number }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe('backpressure and the provided-buffer pool', () => {
  test('a consumer that stops reading holds a bounded amount: the sender is stopped by TCP', { skip: socketBuffersSkipReason() }, async () => {
    const l = TcpListener.bind();
    try {
      const aP = l.accept();
      const client = await Socket.connect(l.address(), { sendBuffer: 64 * 1024 });
      const s = await aP;
      s.setOptions({ recvBuffer: 64 * 1024 });
      const sndbuf = client.getOption(1, 7);
      const rcvbuf = s.getOption(1, 8);
      let sent = 0;
      let stop = false;
      const block = Buffer.alloc(64 * 1024, 1);
      const sending = (async () => {
        while (!stop && sent < (256 << 20)) {
          await client.write(block);
          sent += block.length;
        }
      })();
      const it = s[Symbol.asyncIterator]();
      const first = await deadline(it.next(), SOON, 'first chunk');
      let consumed = first.value!.length;
      // The consumer now stalls. Wait until the sender makes no more progress (bounded wait).
      let last = -1;
      for (let i = 0; i < 400 && sent !== last; i++) {
        last = sent;
        await sleep(50);
      }
      assert.equal(sent, last, 'the sender was stopped while the consumer stalled');
      // In flight at most: the receiver's high-water mark (1 MiB) plus one chunk, both kernel buffers, one block.
      const bound = (1 << 20) + 256 * 1024 + 2 * (sndbuf + rcvbuf) + block.length;
      assert.ok(sent - consumed <= bound, `held ${sent - consumed} bytes, bound ${bound}`);
      stop = true;
      // Reading resumes: everything sent arrives, then the end.
      const ended = sending.then(() => client.shutdown('write'));
      for (;;) {
        const r = await deadline(it.next(), SOON, 'resumed chunk');
        if (r.done) break;
        consumed += r.value.length;
      }
      await ended;
      assert.equal(consumed, sent);
      client.destroy();
      await s.close();
    } finally {
      await l.close();
    }
  });

  test('64 connections that each arrive with more than the pool can hold all deliver every byte', async () => {
    const l = TcpListener.bind();
    const N = 64;
    const PER = 512 * 1024; // 64 x 512 KiB = 32 MiB queued at once, the pool holds 8 MiB
    try {
      const accepted: Socket[] = [];
      const acc = (async () => {
        for (let i = 0; i < N; i++) accepted.push(await l.accept());
      })();
      const clients: Socket[] = [];
      const hashes: string[] = [];
      for (let i = 0; i < N; i++) {
        const c = await Socket.connect(l.address());
        const data = Buffer.alloc(PER, i + 1);
        data.writeUInt32LE(i, 0);
        hashes.push(createHash('sha256').update(data).digest('hex'));
        clients.push(c);
        void c.write(data).then(() => c.shutdown('write'));
      }
      await deadline(acc, SOON, 'accepts');
      await sleep(100); // let the data sit in the kernel, then read everything at once
      const got = await deadline(Promise.all(accepted.map(async (s) => {
        const h = createHash('sha256');
        let bytes = 0;
        let first: number | undefined;
        for await (const chunk of s) {
          if (first === undefined) first = chunk.readUInt32LE(0);
          h.update(chunk);
          bytes += chunk.length;
        }
        await s.close();
        return { first: first!, bytes, hash: h.digest('hex') };
      })), 60_000, 'all receives');
      for (const g of got) {
        assert.equal(g.bytes, PER);
        assert.equal(g.hash, hashes[g.first], `connection ${g.first}`);
      }
      assert.deepEqual(got.map((g) => g.first).sort((a, b) => a - b), [...Array(N).keys()]);
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await l.close();
    }
  });
});
