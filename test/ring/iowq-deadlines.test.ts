/**
 * Deadlines on operations the kernel runs on its io-wq worker threads.
 *
 * The kernel's linked timeout never fires for a forced-async operation that
 * blocks on a worker (observed on 6.x for splice: no CQE at all, neither for
 * the operation nor for its timeout). Such operations are marked `forceAsync`
 * in the registry and get a separate timer plus an explicit cancel. These
 * cases block for real (a socket whose peer never reads, an empty pipe) and
 * must end with ETIMEDOUT, with the fds still usable afterwards.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { File, Ring, Socket, TcpListener, sendFile } from '../../src/index.js';
import { OPS } from '../../src/ring/registry.js';
import { sysOf } from '../../src/ops/socket.js';
import { tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { deadline, rejectionOf } from '../helpers/net-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const ring = Ring.current();
let listener: TcpListener;
let accepted: AsyncIterator<Socket>;
let tmp: TmpDir;

before(() => {
  listener = TcpListener.bind({ host: '127.0.0.1', port: 0 });
  accepted = listener[Symbol.asyncIterator]();
  tmp = tmpDir('uringkit-iowq-');
});

after(async () => {
  await accepted.return?.();
  await listener.close();
  tmp.remove();
});

/** A connected pair: our Socket and a node:net peer that never reads (paused). */
async function stalledPeer(): Promise<{ server: Socket; client: net.Socket }> {
  const client = net.connect(listener.address().port!, '127.0.0.1');
  client.pause();
  const r = await accepted.next();
  assert.equal(r.done, false);
  return { server: r.value as Socket, client };
}

function pipe(): [number, number] {
  const p = sysOf(ring).pipe(1 << 20);
  assert.ok(Array.isArray(p), `pipe() failed: ${String(p)}`);
  return p;
}

describe('deadlines for operations on io-wq workers', () => {
  test('forced-async operations take the separate-timer deadline (splice, fadvise)', () => {
    for (const name of ['splice', 'fadvise', 'open', 'statx', 'fsync', 'fallocate', 'ftruncate']) {
      const info = OPS.find((o) => o.name === name);
      assert.ok(info, name);
      assert.equal(info.forceAsync, true, `${name} is forceAsync`);
    }
  });

  test('splice from a pipe into a socket whose peer never reads: timeout 200 ms rejects ETIMEDOUT', { skip: skipUnlessIoUring("blocks an operation on io_uring's io-wq workers (the portable backend has none)") }, async () => {
    const { server, client } = await stalledPeer();
    const baseline = ring.stats().inFlight; // the listener's multishot accept
    const [r, w] = pipe();
    const chunk = Buffer.alloc(65536, 0x61);
    let moved = 0;
    let err: (Error & Record<string, unknown>) | undefined;
    // Fill the socket's send buffer and the peer's receive buffer: some splice must block.
    for (let i = 0; i < 4096 && err === undefined; i++) {
      await ring.write(w, chunk);
      try {
        moved += await deadline(ring.splice(r, null, server.fd, null, chunk.length, { timeout: 200 }), 20_000,
          'splice into a stalled socket');
      } catch (e) {
        err = e as Error & Record<string, unknown>;
      }
    }
    assert.ok(err, 'a splice blocked at some point');
    assert.equal(err.code, 'ETIMEDOUT', String(err));
    assert.equal(err.syscall, 'splice');
    assert.ok(moved > 0, 'bytes moved before the socket filled');
    assert.equal(ring.stats().inFlight, baseline, 'the timed-out splice settled and released its slot');

    // The fds are still usable: the peer reads, the pipe's bytes go out.
    let got = 0;
    client.on('data', (d: Buffer) => (got += d.length));
    client.resume();
    let drained = 0;
    for (;;) {
      const n = await deadline(ring.splice(r, null, server.fd, null, 65536, { timeout: 10_000 }), 20_000,
        'splice after the peer reads');
      drained += n;
      // The pipe holds what the timed-out splice left (up to one chunk).
      const left = await ring.poll(r, 1 /* POLLIN */, { timeout: 50 }).then(() => true, () => false);
      if (!left) break;
    }
    assert.ok(drained > 0);
    await server.close();
    await deadline(new Promise<void>((resolve) => client.on('end', resolve)), 20_000, 'peer sees the end');
    assert.ok(got >= moved, `peer got ${got} of at least ${moved}`);
    client.destroy();
    await ring.closeFd(r);
    await ring.closeFd(w);
  });

  test('splice from an empty pipe (the writer stays open): timeout rejects ETIMEDOUT, the pipe still works', { skip: skipUnlessIoUring("blocks an operation on io_uring's io-wq workers (the portable backend has none)") }, async () => {
    const [r, w] = pipe();
    const [r2, w2] = pipe();
    const e = await rejectionOf(deadline(ring.splice(r, null, w2, null, 4096, { timeout: 200 }), 20_000,
      'splice from an empty pipe'), 'splice from an empty pipe');
    assert.equal(e.code, 'ETIMEDOUT', String(e));
    await ring.write(w, Buffer.from('hello'));
    assert.equal(await ring.splice(r, null, w2, null, 4096, { timeout: 5_000 }), 5);
    const out = Buffer.alloc(16);
    assert.equal(await ring.read(r2, out), 5);
    assert.equal(out.subarray(0, 5).toString(), 'hello');
    for (const fd of [r, w, r2, w2]) await ring.closeFd(fd);
  });

  test('sendFile to a peer that never reads: the per-step timeout rejects ETIMEDOUT', { skip: skipUnlessIoUring("blocks an operation on io_uring's io-wq workers (the portable backend has none)") }, async () => {
    const { server, client } = await stalledPeer();
    const baseline = ring.stats().inFlight;
    const path = tmp.file('big.bin');
    const f = await File.open(path, 'w+');
    await f.write(Buffer.alloc(8 << 20, 0x62), { position: 0 });
    const e = await rejectionOf(deadline(sendFile(server, f, 0, 8 << 20, { timeout: 200 }), 30_000, 'sendFile'),
      'sendFile');
    assert.equal(e.code, 'ETIMEDOUT', String(e));
    assert.equal(ring.stats().inFlight, baseline);
    await f.close();
    server.destroy();
    client.destroy();
  });
});
