/**
 * Channel: a SharedArrayBuffer byte ring between threads with wake-ups over
 * the rings. 16 MiB each way intact (sha256), end-of-stream, reader close,
 * claims and validation.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { Channel, ChannelClosedError, type ChannelHandle } from '../../src/thread/index.js';
import { pattern } from './fixtures/pattern.js';
import { Peer, within } from './helpers.js';

const MiB = 1024 * 1024;

describe('Channel between threads', () => {
  let peer: Peer;

  before(async () => {
    peer = new Peer();
    await peer.call({ cmd: 'hello' });
  });
  after(async () => {
    await peer.close();
    await Ring.current().close();
  });

  test('worker -> main: 16 MiB through a 64 KiB channel arrive intact', { timeout: 180_000 }, async () => {
    const ch = new Channel({ capacity: 64 * 1024 });
    const wrote = peer.call({ cmd: 'channel-write', channel: ch.handle, bytes: 16 * MiB, seed: 12345 });
    const hash = createHash('sha256');
    let bytes = 0;
    let chunks = 0;
    const read = (async () => {
      for await (const chunk of ch) {
        assert.ok(chunk.length > 0 && chunk.length <= 64 * 1024);
        hash.update(chunk);
        bytes += chunk.length;
        chunks++;
      }
    })();
    const [w] = await within(Promise.all([wrote, read]), 150_000, 'the transfer');
    assert.equal(bytes, 16 * MiB);
    assert.equal(hash.digest('hex'), w.sha256);
    assert.ok(chunks >= 256, `${chunks} chunks: the 64 KiB ring was reused`);
    assert.equal(await ch.read(), null, 'read after the end stays at the end');
  });

  test('main -> worker: 16 MiB through a 4 KiB channel arrive intact', { timeout: 180_000 }, async () => {
    const ch = new Channel({ capacity: 4096 });
    const got = peer.call({ cmd: 'channel-read', channel: ch.handle });
    const hash = createHash('sha256');
    const fill = pattern(777);
    const write = (async () => {
      let left = 16 * MiB;
      let size = 1;
      while (left > 0) {
        const n = Math.min(left, size);
        const chunk = new Uint8Array(n);
        fill(chunk);
        hash.update(chunk);
        await ch.write(chunk);
        left -= n;
        size = (size * 7 + 13) % 100_003;
      }
      await ch.close();
    })();
    const [r] = await within(Promise.all([got, write]), 150_000, 'the transfer');
    assert.equal(r.bytes, 16 * MiB);
    assert.equal(r.sha256, hash.digest('hex'));
  });
});

describe('Channel on one thread', () => {
  test('reads return what was written, across the wrap-around, then null after close()', async () => {
    const ch = new Channel({ capacity: 16 });
    const reader = Channel.from(structuredClone(ch.handle) as ChannelHandle);
    const data = Buffer.from('the quick brown fox jumps over the lazy dog, twice: the quick brown fox');
    const out: Buffer[] = [];
    const reading = (async () => {
      for await (const c of reader) out.push(c);
    })();
    for (let i = 0; i < data.length; i += 5) await ch.write(data.subarray(i, i + 5));
    await ch.close();
    await reading;
    assert.equal(Buffer.concat(out).toString(), data.toString());
    assert.equal(ch.role, 'writer');
    assert.equal(reader.role, 'reader');
  });

  test('writes queue in call order and wait for space', async () => {
    const ch = new Channel({ capacity: 16 });
    const w1 = ch.write('a'.repeat(40));
    const w2 = ch.write('b'.repeat(40));
    const done = ch.close();
    const reader = Channel.from(ch.handle);
    let s = '';
    for (;;) {
      const c = await reader.read({ maxBytes: 7 });
      if (c === null) break;
      assert.ok(c.length <= 7);
      s += c.toString();
    }
    await Promise.all([w1, w2, done]);
    assert.equal(s, 'a'.repeat(40) + 'b'.repeat(40));
  });

  test('the reader leaving makes pending and later writes fail with ERR_CHANNEL_CLOSED', async () => {
    const ch = new Channel({ capacity: 16 });
    const reader = Channel.from(ch.handle);
    const blocked = ch.write(Buffer.alloc(64, 1)); // fills 16, then waits for space
    const first = await reader.read();
    assert.equal(first?.length, 16);
    await reader.close();
    await assert.rejects(blocked, ChannelClosedError);
    await assert.rejects(ch.write('x'), { code: 'ERR_CHANNEL_CLOSED' });
    assert.equal(await reader.read(), null);
  });

  test('breaking out of the iterator closes the reader end', async () => {
    const ch = new Channel({ capacity: 32 });
    const reader = Channel.from(ch.handle);
    await ch.write('hello');
    for await (const c of reader) {
      assert.equal(c.toString(), 'hello');
      break;
    }
    await assert.rejects(ch.write('more'), { code: 'ERR_CHANNEL_CLOSED' });
  });

  test('close() on a reader that waits ends its read with null', async () => {
    const ch = new Channel({ capacity: 32 });
    const reader = Channel.from(ch.handle);
    const p = reader.read();
    await new Promise((r) => setImmediate(r));
    await reader.close();
    assert.equal(await p, null);
  });

  test('abort: a waiting read rejects with AbortError', async () => {
    const ch = new Channel({ capacity: 32 });
    const ac = new AbortController();
    const p = ch.read({ signal: ac.signal });
    ac.abort(new Error('enough'));
    await assert.rejects(p, { name: 'AbortError' });
    await ch.close();
  });

  test('one reader and one writer: a second claim of an end fails', async () => {
    const ch = new Channel({ capacity: 32 });
    const a = Channel.from(ch.handle);
    const b = Channel.from(ch.handle);
    await ch.write('x');
    assert.throws(() => a.write('y'), { code: 'ERR_CHANNEL_END_TAKEN' });
    assert.equal((await a.read())?.toString(), 'x');
    assert.throws(() => b.read(), { code: 'ERR_CHANNEL_END_TAKEN' });
    assert.throws(() => ch.read(), { code: 'ERR_CHANNEL_END_TAKEN' });
    assert.throws(() => b.close(), { code: 'ERR_CHANNEL_END_TAKEN' }, 'only the writer ends the stream');
    await ch.close();
    assert.equal(await a.read(), null);
  });

  test('validation', () => {
    for (const capacity of [0, 15, 100, 2 ** 31, 1.5, '64' as unknown as number]) {
      assert.throws(() => new Channel({ capacity }), { code: 'ERR_OUT_OF_RANGE' }, String(capacity));
    }
    assert.throws(() => Channel.from({ type: 'uringkit:channel', buffer: new SharedArrayBuffer(8) }),
      { code: 'ERR_INVALID_ARG_TYPE' });
    const ch = new Channel({ capacity: 16 });
    assert.throws(() => ch.write(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(ch.capacity, 16);
    assert.equal(ch.buffered, 0);
  });
});
