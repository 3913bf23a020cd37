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

import { Ring, Socket, TcpListener } from '../../src/index.js';
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
