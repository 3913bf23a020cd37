/**
 * Volume: 10,000 connect/accept/close cycles without leaking fds, 1 GiB
 * through an echo server, and slow consumers that drive the provided-buffer
 * pool dry without losing a byte.
 */
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { after, describe, test } from 'node:test';

import { Ring, Socket, TcpListener } from '../../src/index.js';
import { bufferPool } from '../../src/ops/socket.js';
import { fdCount } from '../helpers/fds.js';
import { waitUntil } from '../helpers/loop.js';
import { ChunkSource, deadline, drain, echoServer, sleep } from '../helpers/net-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const MiB = 1 << 20;

/** Counts recvMultishot completions that ended with ENOBUFS (the provided-buffer pool ran dry). */
function countEnobufs(): { readonly count: number; stop(): void } {
  let count = 0;
  const onComplete = (m: unknown) => {
    const msg = m as { op?: string; error?: { code?: string } | null };
    if (msg.op === 'recvMultishot' && msg.error?.code === 'ENOBUFS') count++;
  };
  dc.subscribe('uringkit:op:complete', onComplete);
  return {
    get count() {
      return count;
    },
    stop: () => dc.unsubscribe('uringkit:op:complete', onComplete),
  };
}

describe('connection churn', () => {
  test('10,000 connect/accept/close cycles (50 at a time) leave the fd count at its baseline', { timeout: 240_000 }, async (t) => {
    const l = TcpListener.bind({ backlog: 1024 });
    // The server closes at once; each client must then read EOF.
    const srv = echoServer(l, async () => {});
    try {
      const cycle = async (): Promise<void> => {
        const c = await Socket.connect(l.address());
        const n = await c.recv(Buffer.alloc(1));
        assert.equal(n, 0, 'the client reads EOF from the server-side close');
        await c.close();
      };
      await cycle(); // warm-up: the ring and its buffers exist before the baseline
      await srv.idle();
      const base = fdCount();
      let peak = base;
      const TOTAL = 10_000;
      const BATCH = 50;
      for (let done = 0; done < TOTAL; done += BATCH) {
        await deadline(Promise.all(Array.from({ length: BATCH }, cycle)), 60_000, `batch at ${done}`);
        peak = Math.max(peak, fdCount());
      }
      await deadline(srv.idle(), 60_000, 'server-side closes');
      assert.equal(srv.accepted, TOTAL + 1);
      assert.equal(srv.closed, TOTAL + 1);
      assert.deepEqual(srv.errors, []);
      assert.ok(await waitUntil(() => fdCount() <= base, 10_000), `fds: ${fdCount()} after, ${base} before`);
      assert.ok(peak <= base + 2 * BATCH + 16, `fd peak ${peak} (baseline ${base}): fds pile up between batches`);
      t.diagnostic(`fd baseline ${base}, peak ${peak}`);
    } finally {
      await l.close();
      await srv.loop;
    }
    assert.equal(Ring.current().stats().inFlight, 0);
  });
});

describe('bulk transfer', () => {
  test('1 GiB through an echo server (1 MiB writes, reading concurrently): same length and SHA-256', { timeout: 300_000 }, async (t) => {
    const l = TcpListener.bind();
    const srv = echoServer(l);
    try {
      const c = await Socket.connect(l.address());
      const reading = drain(c);
      const src = new ChunkSource(MiB);
      const t0 = Date.now();
      for (let i = 0; i < 1024; i++) {
        const n = await c.write(src.chunk(i));
        assert.equal(n, MiB);
      }
      await c.shutdown('write');
      const got = await deadline(reading, 240_000, 'echoed data');
      assert.equal(got.bytes, 1024 * MiB);
      assert.equal(got.sha256, src.hash.digest('hex'));
      t.diagnostic(`1 GiB echoed in ${Date.now() - t0} ms, ${got.chunks} chunks`);
      await c.close();
      await srv.idle();
      assert.deepEqual(srv.errors, []);
    } finally {
      await l.close();
      await srv.loop;
    }
  });

  test('64 MiB to a slow consumer (1 ms pause every 4 chunks): every byte, in order', { timeout: 180_000 }, async (t) => {
    const l = TcpListener.bind();
    const src = new ChunkSource(MiB);
    const srv = echoServer(l, async (s) => {
      for (let i = 0; i < 64; i++) await s.write(src.chunk(i));
    });
    const enobufs = countEnobufs();
    try {
      const c = await Socket.connect(l.address());
      const got = await deadline(drain(c, async (_chunk, i) => {
        if (i % 4 === 3) await sleep(1);
      }), 150_000, 'slow consumer');
      assert.equal(got.bytes, 64 * MiB);
      assert.equal(got.sha256, src.hash.digest('hex'));
      t.diagnostic(`${got.chunks} chunks, ${enobufs.count} ENOBUFS re-arms`);
      await c.close();
      await srv.idle();
      assert.deepEqual(srv.errors, []);
    } finally {
      enobufs.stop();
      await l.close();
      await srv.loop;
    }
  });

  test('provided-buffer pool exhaustion: 160 slow consumers, 20 MiB queued before reading, 80 MiB in all, no byte lost', { skip: skipUnlessIoUring("needs io_uring's provided-buffer ring to run dry"), timeout: 180_000 }, async (t) => {
    // Each multishot arm takes at most 64 KiB of the ring's 8 MiB pool (Linux 6.17+; all it can get before):
    // 160 connections with 128 KiB waiting each need 10 MiB at once.
    const N = 160;
    const CHUNK = 128 * 1024;
    const l = TcpListener.bind();
    const enobufs = countEnobufs();
    try {
      const clients: Socket[] = [];
      const servers: Socket[] = [];
      for (let i = 0; i < N; i++) {
        const accepted = l.accept();
        // A receive buffer larger than the preload lets it wait in the kernel before anyone reads.
        clients.push(await Socket.connect(l.address(), { recvBuffer: 1 * MiB }));
        servers.push(await accepted);
      }
      const sources = servers.map(() => new ChunkSource(CHUNK));
      await deadline(Promise.all(servers.map((s, k) => s.write(sources[k]!.chunk(0)))), 60_000, 'preload');
      // 20 MiB now waits in the kernel: arming all the multishot receives at once needs more
      // than the ring's 8 MiB pool, so it runs dry (ENOBUFS) and the sockets must re-arm.
      const writers = Promise.all(servers.map(async (s, k) => {
        for (let i = 1; i < 4; i++) await s.write(sources[k]!.chunk(i));
        await s.close();
      }));
      const results = await deadline(Promise.all(clients.map((c) => drain(c, async (_chunk, i) => {
        if (i % 4 === 3) await sleep(1);
      }))), 150_000, 'slow consumers');
      await deadline(writers, 60_000, 'writers');
      results.forEach((r, k) => {
        assert.equal(r.bytes, 4 * CHUNK, `connection ${k}: bytes`);
        assert.equal(r.sha256, sources[k]!.hash.digest('hex'), `connection ${k}: content`);
      });
      t.diagnostic(`${enobufs.count} ENOBUFS re-arms`);
      if (bufferPool(Ring.current()) !== null) assert.ok(enobufs.count > 0, 'precondition: the provided-buffer pool ran dry at least once');
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      enobufs.stop();
      await l.close();
    }
    assert.ok(await waitUntil(() => Ring.current().stats().inFlight === 0, 10_000), `inFlight ${Ring.current().stats().inFlight}`);
  });
});

after(async () => {
  await Ring.current().cancelAll().catch(() => 0);
});
