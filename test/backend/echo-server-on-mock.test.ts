/**
 * An application-level test on the mock backend: the echo server of
 * examples/echo-server.ts, unchanged in its logic, served to several
 * clients over in-memory sockets with injected connection resets and short
 * writes. Deterministic: every random choice comes from the mock's seed
 * (withMock prints it on failure; replay with URINGKIT_MOCK_SEED=<seed>).
 *
 * The server under test is examples/echo-server.ts's own startEchoServer().
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { startEchoServer } from '../../examples/echo-server.js';
import { Ring, Socket, SocketAddress } from '../../src/index.js';
import { MockBackend, withMock } from '../../src/testing.js';

interface ClientResult {
  /** Bytes echoed back, in order. */
  echoed: Buffer;
  /** 'eof' when the server closed cleanly, else the error code. */
  end: string;
}

/** A client: sends `data` in pieces, half-closes, reads the echo until the server closes. */
async function echoClient(ring: Ring, to: SocketAddress, data: Buffer, piece: number,
  recvBuffer?: number): Promise<ClientResult> {
  const s = await Socket.connect(to, recvBuffer === undefined ? { ring } : { ring, recvBuffer });
  const parts: Buffer[] = [];
  let end = 'eof';
  const reading = (async () => {
    try {
      for await (const chunk of s) parts.push(Buffer.from(chunk));
    } catch (err) {
      end = (err as { code?: string }).code ?? 'error';
    }
  })();
  try {
    for (let o = 0; o < data.length; o += piece) await s.write(data.subarray(o, o + piece));
    await s.shutdown('write');
  } catch (err) {
    if (end === 'eof') end = `write:${(err as { code?: string }).code ?? 'error'}`;
  }
  await reading;
  await s.close();
  return { echoed: Buffer.concat(parts), end };
}

function payload(n: number, tag: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + tag * 7) & 0xff;
  return b;
}

/** Several clients at once against one server; returns a summary that must depend only on the seed. */
async function scenario(mock: MockBackend, ring: Ring, clients: number, recvBuffer?: number): Promise<{
  results: ClientResult[]; datas: Buffer[]; summary: string;
}> {
  const server = startEchoServer({ ring, port: 7000 });
  assert.equal(server.address.toString(), '127.0.0.1:7000');
  const datas = Array.from({ length: clients }, (_, i) => payload(3000 + i * 1500, i));
  const results = await Promise.all(datas.map((d, i) => echoClient(ring, server.address, d, 700 + i * 100, recvBuffer)));
  await server.stop();
  assert.equal(server.open.size, 0);
  results.forEach((r, i) => {
    // Whatever came back is a prefix of what was sent: never reordered, never corrupted.
    assert.ok(datas[i]!.subarray(0, r.echoed.length).equals(r.echoed), `client ${i}: echo is a prefix of its data`);
    if (r.end === 'eof') assert.equal(r.echoed.length, datas[i]!.length, `client ${i}: a clean end means a complete echo`);
  });
  const summary = [
    results.map((r) => `${r.end}:${r.echoed.length}`).join(' '),
    [...server.outcomes].sort().join(' '),
    mock.log.map((e) => `${e.op}${e.res ?? ''}${e.fault !== undefined ? '!' : ''}`).join(','),
  ].join('\n');
  return { results, datas, summary };
}

describe('echo server on the mock backend', () => {
  test('echoes every client completely, with random short writes and a small receive buffer', (t) => withMock(t, async (mock, ring) => {
    mock.faults.add({ op: 'send', shortBy: 'random', probability: 0.5 });
    // Clients with a 1 KiB receive buffer: the server's sends fill it, come up short and wait for the reader.
    const { results } = await scenario(mock, ring, 4, 1024);
    for (const r of results) assert.equal(r.end, 'eof');
    assert.ok(mock.calls('send').some((e) => e.fault !== undefined), 'some sends came up short');
  }, { seed: 1234 }));

  test('a reset connection ends alone; the server keeps serving the others', (t) => withMock(t, async (mock, ring) => {
    // The server side of the second accepted connection is reset on its second receive.
    let target = -1;
    mock.faults.add({
      op: 'recv', errno: 'ECONNRESET', times: 1, after: 1,
      match: (req) => {
        if (target < 0) {
          const accepted = mock.calls('accept').filter((e) => e.res !== undefined && e.res >= 0);
          if (accepted.length >= 2) target = accepted[1]!.res!;
        }
        return req.fd === target;
      },
    });
    const { results, datas } = await scenario(mock, ring, 3);
    const ends = results.map((r) => r.end);
    assert.equal(ends.filter((e) => e === 'eof').length, 2, `two clients unaffected (${ends.join(', ')})`);
    const hit = ends.findIndex((e) => e !== 'eof');
    assert.ok(hit >= 0, 'one client saw its connection end early');
    assert.ok(results[hit]!.echoed.length < datas[hit]!.length, 'its echo is incomplete');
    assert.ok(ends[hit] === 'ECONNRESET' || ends[hit]!.startsWith('write:'), `it saw the reset (${ends[hit]})`);
  }, { seed: 99 }));

  test('random resets and short writes: the same seed gives the same outcome', async () => {
    async function once(seed: number): Promise<string> {
      return withMock({ diagnostic: (m) => console.error(m) }, async (mock, ring) => {
        mock.faults.add({ op: ['recv', 'send'], errno: 'ECONNRESET', probability: 0.02 });
        mock.faults.add({ op: 'send', shortBy: 'random', probability: 0.3 });
        return (await scenario(mock, ring, 5)).summary;
      }, { seed });
    }
    for (const seed of [1, 2, 3]) {
      const a = await once(seed);
      assert.equal(await once(seed), a, `seed ${seed} replays exactly`);
    }
    const outcomes = new Set([await once(1), await once(2), await once(3), await once(4)]);
    assert.ok(outcomes.size > 1, 'different seeds explore different runs');
  });

  test('the port is in use while the server runs, free after stop()', (t) => withMock(t, async (_mock, ring) => {
    const server = startEchoServer({ ring, port: 7000 });
    assert.throws(() => startEchoServer({ ring, port: 7000 }), { code: 'EADDRINUSE' });
    const r = await echoClient(ring, server.address, Buffer.from('ping'), 10);
    assert.deepEqual([r.end, r.echoed.toString()], ['eof', 'ping']);
    await server.stop();
    const again = startEchoServer({ ring, port: 7000 });
    await again.stop();
  }));
});
