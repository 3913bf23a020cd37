/**
 * sendFile: zero-copy file → socket by splice through a pooled pipe.
 * The receiving side is node:net (an independent reader); what it receives
 * is compared by SHA-256 with the file's bytes. Also: the write ordering,
 * the pool's cap, and the error path (the peer closes mid-transfer: the
 * transfer rejects, its pipe is closed rather than pooled, no fd leaks).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { File, Ring, Socket, TcpListener } from '../../src/index.js';
import {
  drainSendFilePipes, sendFile, sendFilePoolSize, SENDFILE_POOL_MAX,
} from '../../src/net/sendfile.js';
import { fdSnapshot, fdsOpenedSince } from '../helpers/fds.js';
import { tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const ring = Ring.current();

let tmp: TmpDir;
let path: string;
let data: Buffer;
let listener: TcpListener;
let accepted: AsyncIterator<Socket>;

before(() => {
  tmp = tmpDir('uringkit-sendfile-');
  path = tmp.file('32m.bin');
  data = Buffer.allocUnsafe(SIZE);
  let x = 0x9e3779b9;
  for (let i = 0; i < SIZE; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    data.writeInt32LE(x | 0, i);
  }
  fs.writeFileSync(path, data);
  listener = TcpListener.bind({ host: '127.0.0.1', port: 0 });
  accepted = listener[Symbol.asyncIterator]();
});

after(async () => {
  await accepted.return?.();
  await listener.close();
  drainSendFilePipes(ring);
  tmp.remove();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Peer {
  client: net.Socket;
  /** Resolves with the SHA-256 and byte count of everything received until the server side closes. */
  received: Promise<{ hash: string; bytes: number; head: Buffer }>;
}

/** A connection: our Socket (server side) and a node:net reader (client side). */
async function connect(): Promise<{ server: Socket; peer: Peer }> {
  const client = net.connect(listener.address().port!, '127.0.0.1');
  const received = new Promise<{ hash: string; bytes: number; head: Buffer }>((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    const head: Buffer[] = [];
    let headLen = 0;
    client.on('data', (chunk: Buffer) => {
      h.update(chunk);
      bytes += chunk.length;
      if (headLen < 64) {
        head.push(chunk.subarray(0, 64 - headLen));
        headLen += Math.min(chunk.length, 64 - headLen);
      }
    });
    client.on('end', () => resolve({ hash: h.digest('hex'), bytes, head: Buffer.concat(head) }));
    client.on('error', reject);
  });
  const r = await accepted.next();
  assert.equal(r.done, false);
  return { server: r.value as Socket, peer: { client, received } };
}

/** Sends with sendFile, closes, and checks what the peer got against `expect`. */
async function roundTrip(file: File | number, offset: number | undefined, length: number | undefined,
  expect: Buffer, prefix?: Buffer): Promise<number> {
  const { server, peer } = await connect();
  if (prefix) void server.write(prefix);
  const n = await sendFile(server, file, offset, length);
  await server.close();
  const got = await peer.received;
  const whole = prefix ? Buffer.concat([prefix, expect]) : expect;
  assert.equal(got.bytes, whole.length, 'bytes received');
  assert.equal(got.hash, sha(whole), 'SHA-256 of the received bytes');
  if (prefix) assert.deepEqual(got.head.subarray(0, prefix.length), prefix, 'queued write went out first');
  peer.client.destroy();
  return n;
}

describe('sendFile', () => {
  test('the whole 32 MiB file (length from fstat), File and fd forms', async () => {
    const f = await File.open(path, 'r');
    try {
      assert.equal(await roundTrip(f, undefined, undefined, data), SIZE);
      assert.equal(await roundTrip(f.fd, 0, undefined, data), SIZE);
    } finally {
      await f.close();
    }
    assert.ok(sendFilePoolSize(ring) >= 1, 'a clean transfer returns its pipe to the pool');
  });

  test('offsets and lengths', async () => {
    const f = await File.open(path, 'r');
    try {
      const cases: Array<[number, number | undefined]> = [
        [12345, 20 * MiB + 7], // unaligned, several pipe-fulls
        [1, undefined], // to the end from an offset
        [SIZE - 100, 100], // the tail
        [5 * MiB, 1], // a single byte
        [3 * MiB, MiB], // exactly one pipe
        [7, 0], // nothing
        [SIZE, undefined], // at the end: nothing
      ];
      for (const [off, len] of cases) {
        const expect = data.subarray(off, len === undefined ? SIZE : off + len);
        const n = await roundTrip(f, off, len, expect);
        assert.equal(n, expect.length, `offset ${off} length ${len}`);
      }
      // The file's own position is neither used nor moved.
      const b = Buffer.alloc(16);
      assert.equal(fs.readSync(f.fd, b, 0, 16, null), 16);
      assert.deepEqual(b, data.subarray(0, 16));
    } finally {
      await f.close();
    }
  });

  test('a length past the end of the file sends what there is', async () => {
    const f = await File.open(path, 'r');
    try {
      const n = await roundTrip(f, SIZE - 1000, 5000, data.subarray(SIZE - 1000));
      assert.equal(n, 1000);
    } finally {
      await f.close();
    }
  });

  test('writes queued earlier go out first', async () => {
    const f = await File.open(path, 'r');
    try {
      const header = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n');
      await roundTrip(f, 2 * MiB, MiB, data.subarray(2 * MiB, 3 * MiB), header);
    } finally {
      await f.close();
    }
  });

  test('concurrent transfers: the pool is capped', async () => {
    const f = await File.open(path, 'r');
    try {
      const n = SENDFILE_POOL_MAX + 4;
      const conns = await Promise.all(Array.from({ length: n }, () => connect()));
      const done = conns.map(async ({ server, peer }, i) => {
        const off = i * 1000;
        const sent = await sendFile(server, f, off, 256 * 1024);
        await server.close();
        const got = await peer.received;
        assert.equal(sent, 256 * 1024);
        assert.equal(got.hash, sha(data.subarray(off, off + 256 * 1024)));
        peer.client.destroy();
      });
      await Promise.all(done);
      assert.equal(sendFilePoolSize(ring), SENDFILE_POOL_MAX);
    } finally {
      await f.close();
    }
  });

  test('invalid arguments', async () => {
    const { server, peer } = await connect();
    try {
      await assert.rejects(sendFile({} as Socket, 0), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(sendFile(server, 'x' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(sendFile(server, -1), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(sendFile(server, 0, -1), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(sendFile(server, 0, 0, 1.5), { code: 'ERR_OUT_OF_RANGE' });
      const f = await File.open(path, 'r');
      await f.close();
      await assert.rejects(sendFile(server, f), { code: 'EBADF' });
    } finally {
      await server.close();
      peer.client.destroy();
    }
  });

  test('peer closes mid-transfer: rejects, the pipe is discarded, no fd leaks', async () => {
    drainSendFilePipes(ring);
    const baseline = fdSnapshot();
    const f = await File.open(path, 'r');

    for (const pooled of [0, 1]) {
      if (pooled === 1) {
        // One clean transfer first, so that the failing one takes a pooled pipe.
        const tmpF = data.subarray(0, 4096);
        await roundTrip(f, 0, 4096, tmpF);
        assert.equal(sendFilePoolSize(ring), 1);
      }
      const { server, peer } = await connect();
      // The reader takes the first chunk, then resets the connection (unread data: RST).
      peer.client.once('data', () => peer.client.resetAndDestroy());
      peer.received.catch(() => {});
      const err = await sendFile(server, f).then(
        (n) => assert.fail(`expected a rejection, sent ${n} bytes`),
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      assert.ok(['ECONNRESET', 'EPIPE'].includes(err.code ?? ''), `error code ${err.code}: ${err.message}`);
      assert.equal(sendFilePoolSize(ring), 0, 'the pipe that saw the error is not pooled');
      await server.close();
    }
    await f.close();
    assert.equal(sendFilePoolSize(ring), 0);
    // Everything closed: pipes and fds back to where they were.
    for (let i = 0; i < 50 && fdsOpenedSince(baseline).length !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(fdsOpenedSince(baseline), [], 'every fd opened since the baseline closed');
  });

  test('drainSendFilePipes closes the pooled pipes', { skip: skipUnlessIoUring("counts the kernel pipe fds io_uring's splice path pools (the portable backend pools none)") }, async () => {
    const f = await File.open(path, 'r');
    try {
      await roundTrip(f, 0, 1000, data.subarray(0, 1000));
    } finally {
      await f.close();
    }
    const pipesBefore = pipeFds();
    const n = sendFilePoolSize(ring);
    assert.ok(n >= 1);
    assert.equal(drainSendFilePipes(ring), n);
    assert.equal(sendFilePoolSize(ring), 0);
    // Exactly 2n of the pipe fds open before are gone (compared by fd, not by count: Node may
    // close a pipe of its own meanwhile), and no pipe fd appeared.
    const pipesAfter = pipeFds();
    assert.equal(pipesBefore.filter((fd) => !pipesAfter.includes(fd)).length, 2 * n);
    assert.deepEqual(pipesAfter.filter((fd) => !pipesBefore.includes(fd)), []);
  });
});

/** The pipe fds this process has open now. */
function pipeFds(): number[] {
  return [...fdSnapshot()].filter(([, target]) => target.startsWith('pipe:')).map(([fd]) => fd);
}
