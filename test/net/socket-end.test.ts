/**
 * Socket.end([data][, encoding | options][, callback]), as node's
 * net.Socket#end: the data goes out after every earlier write, then the
 * write side is shut down (the peer reads every byte, then EOF), the read
 * side stays open (the peer's answer is read after end()), and the Promise or
 * callback reports when it is done. Also: writes after end(), a second end(),
 * end() on a closed socket, bad arguments, a node:net peer.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';

import { Ring, Socket, TcpListener } from '../../src/index.js';
import { waitUntil } from '../helpers/loop.js';

const T = { timeout: 60_000 };
const ring = Ring.current();

after(async () => {
  assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000), `inFlight ${ring.stats().inFlight}`);
});

/** A connected pair on loopback: [client, accepted]. */
async function pair(): Promise<[Socket, Socket]> {
  const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
  try {
    const acc = l.accept();
    const c = await Socket.connect(l.address());
    return [c, await acc];
  } finally {
    await l.close();
  }
}

/** Runs `fn` on a fresh connected pair, then closes both sockets whatever happened. */
async function withPair(fn: (c: Socket, s: Socket) => Promise<void>): Promise<void> {
  const [c, s] = await pair();
  try {
    await fn(c, s);
  } finally {
    await c.close();
    await s.close();
  }
}

/** Reads until EOF (bounded: recv has a timeout). */
async function readAll(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  const b = Buffer.alloc(64 * 1024);
  for (;;) {
    const n = await s.recv(b, { timeout: 30_000 });
    if (n === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(b.subarray(0, n)));
  }
}

describe('Socket.end', () => {
  test('end(data): earlier writes, then data, then EOF; the read side still reads the answer', T, async () => {
    await withPair(async (c, s) => {
      void c.write('one,');
      const big = Buffer.alloc(3 * 1024 * 1024, 0x61); // more than a socket buffer: end() waits for it
      void c.write(big);
      const ended = c.end(',last');
      assert.equal(c.ended, true);
      const got = await readAll(s); // returns only on EOF: the half-close happened
      assert.equal(got.length, 4 + big.length + 5);
      assert.equal(got.subarray(0, 4).toString(), 'one,');
      assert.ok(got.subarray(4, 4 + big.length).equals(big));
      assert.equal(got.subarray(4 + big.length).toString(), ',last');
      assert.equal(await ended, undefined);
      // Half-closed, not closed: the peer answers and we read it, then its EOF.
      await s.end('answer');
      assert.equal((await readAll(c)).toString(), 'answer');
    });
  });

  test('end() without data; end(callback); end(data, callback); end(data, encoding, callback)', T, async () => {
    const forms: [string, (c: Socket) => Promise<void>, string][] = [
      ['end()', (c) => c.end(), ''],
      ['end(callback)', (c) => new Promise((res, rej) => c.end((e) => (e ? rej(e) : res()))), ''],
      ['end(data, callback)', (c) => new Promise((res, rej) => c.end('cb', (e) => (e ? rej(e) : res()))), 'cb'],
      ['end(data, options, callback)', (c) => new Promise((res, rej) => c.end(Buffer.from('xyz'), { offset: 1 }, (e) => (e ? rej(e) : res()))), 'yz'],
      ['end(data, encoding)', (c) => c.end('68656c6c6f', 'hex'), 'hello'],
      ['end(data, encoding, callback)', (c) => new Promise((res, rej) => c.end('aGk=', 'base64', (e) => (e ? rej(e) : res()))), 'hi'],
      ['end(Uint8Array)', (c) => c.end(new Uint8Array([0x41, 0x42])), 'AB'],
      ['end(null)', (c) => c.end(null), ''],
    ];
    for (const [label, run, want] of forms) {
      await withPair(async (c, s) => {
        const reading = readAll(s);
        await run(c);
        assert.equal((await reading).toString('latin1'), want, label);
      });
    }
  });

  test('the callback form returns nothing (no Promise)', T, async () => {
    await withPair(async (c) => {
      const r = c.end(() => {});
      assert.equal(r, undefined);
    });
  });

  test('after end(): write() and end(data) throw ERR_STREAM_WRITE_AFTER_END; end() again is the same result', T, async () => {
    await withPair(async (c, s) => {
      const first = c.end('x');
      assert.throws(() => c.write('y'), { code: 'ERR_STREAM_WRITE_AFTER_END', message: 'write after end' });
      assert.throws(() => c.write('y', undefined, () => {}), { code: 'ERR_STREAM_WRITE_AFTER_END' });
      assert.throws(() => c.end('z'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
      assert.equal(c.end(), first);
      await first;
      assert.equal((await readAll(s)).toString(), 'x');
    });
  });

  test('a closed socket: ERR_SOCKET_CLOSED; bad arguments throw before anything is sent', T, async () => {
    await withPair(async (c, s) => {
      assert.throws(() => c.end(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => c.end({} as never), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => c.end('a', 'klingon' as never), { code: 'ERR_INVALID_ARG_VALUE' });
      assert.throws(() => c.end('a', undefined, 'nope' as never), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => c.end('a', { offset: 5 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(c.ended, false, 'a refused end() does not count');
      await c.close();
      assert.throws(() => c.end(), { code: 'ERR_SOCKET_CLOSED' });
      assert.equal((await readAll(s)).length, 0);
    });
  });

  test('a failed end(): the error reaches the Promise and the callback', T, async () => {
    await withPair(async (c) => {
      const p = c.end('data');
      let cbErr: Error | null | undefined;
      const viaCb = new Promise<void>((res) => c.end((e) => {
        cbErr = e;
        res();
      }));
      c.destroy(); // the queued write fails
      await assert.rejects(p);
      await viaCb;
      assert.ok(cbErr instanceof Error, 'the callback got the error');
    });
  });

  test('a node:net peer sees data then "end", and its reply is still read', T, async () => {
    const server = net.createServer({ allowHalfOpen: true }, (conn) => {
      const parts: Buffer[] = [];
      conn.on('data', (d: Buffer) => parts.push(d));
      conn.on('end', () => conn.end(`got ${Buffer.concat(parts).toString()}`));
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const { port } = server.address() as net.AddressInfo;
    const c = await Socket.connect({ host: '127.0.0.1', port });
    try {
      await c.end('hello');
      assert.equal((await readAll(c)).toString(), 'got hello');
    } finally {
      await c.close();
      await new Promise((res) => server.close(res));
    }
  });
});
