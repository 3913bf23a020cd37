/**
 * uringkit/fs write streams at a known position: chunks that arrive while a
 * write is in flight are coalesced into one write, write() returns what
 * node's returns for the same calls, the data and its order are exact, and
 * a stream on one of our FileHandles writes from the handle's offset (or,
 * in append mode or with autoClose false, at the fd's position as node's).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import nfs from 'node:fs';
import nodeFsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { Ring } from '../../src/ring/ring.js';
import ukFs, { createWriteStream } from '../../src/fs/promises/index.js';

const dir = nfs.mkdtempSync(path.join(os.tmpdir(), 'uk-fs-pipeline-'));
after(() => nfs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const next = (): string => path.join(dir, `f${n++}`);

/** Waits for `ev` on `emitter`, at most 10 s. */
function event(emitter: NodeJS.EventEmitter, ev: string): Promise<unknown[]> {
  return once(emitter, ev, { signal: AbortSignal.timeout(10_000) });
}

test('1,000 small writes in one turn go out as a handful of writes, in order', async () => {
  const p = next();
  const ws = createWriteStream(p);
  await event(ws, 'open');
  const before = Ring.current().stats().submitted;
  const parts: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const b = Buffer.from(`line ${i} ${'x'.repeat(i % 90)}\n`);
    parts.push(b);
    ws.write(b);
  }
  ws.end();
  await event(ws, 'close');
  const ops = Ring.current().stats().submitted - before;
  assert.deepEqual(nfs.readFileSync(p), Buffer.concat(parts));
  // One write in flight, the rest buffered by the stream and written as one or two more; plus the close.
  assert.ok(ops <= 10, `${ops} ring operations for 1,000 writes`);
});

test('write() returns what node\'s returns, call by call (small chunks, then chunks above the highWaterMark)', async () => {
  const sizes = [100, 5000, 7000, 3000, 2000, 70_000, 10, 65_536, 16_384, 16_383];
  const returns = async (make: (p: string) => NodeJS.WritableStream): Promise<boolean[]> => {
    const ws = make(next());
    await event(ws as unknown as NodeJS.EventEmitter, 'open');
    const out = sizes.map((s) => ws.write(Buffer.alloc(s, 0x61)));
    ws.end();
    await event(ws as unknown as NodeJS.EventEmitter, 'close');
    return out;
  };
  const node = await returns((p) => nfs.createWriteStream(p));
  const ours = await returns((p) => createWriteStream(p));
  assert.deepEqual(ours, node);
});

test('a handle stream writes 8 MiB of 64 KiB chunks honouring drain, from the handle\'s offset; finish then close', async () => {
  const p = next();
  nfs.writeFileSync(p, 'HEAD');
  const fh = await ukFs.open(p, 'r+');
  await fh.read(Buffer.alloc(4), 0, 4, null); // the fd's offset is now 4
  const ws = fh.createWriteStream();
  const events: string[] = [];
  ws.on('finish', () => events.push('finish'));
  ws.on('close', () => events.push('close'));
  const closed = event(ws, 'close');
  const expect: Buffer[] = [Buffer.from('HEAD')];
  // One buffer, refilled after each 'drain' (after the write's callback: the caller may reuse it then,
  // although the data may not be on disk yet).
  const chunk = Buffer.alloc(65_536);
  for (let i = 0; i < 128; i++) {
    chunk.fill(i);
    expect.push(Buffer.from(chunk));
    if (!ws.write(chunk)) await event(ws, 'drain');
  }
  ws.end();
  await closed;
  assert.deepEqual(events, ['finish', 'close']);
  assert.equal(ws.bytesWritten, 128 * 65_536);
  assert.equal(fh.fd, -1);
  assert.ok(nfs.readFileSync(p).equals(Buffer.concat(expect)));
});

test('a handle in append mode, and one read part-way, write where node\'s writes (fd position / its offset)', async () => {
  for (const flags of ['a', 'r+'] as const) {
    const results: string[] = [];
    for (const fsp of [nodeFsp, ukFs]) {
      const p = next();
      nfs.writeFileSync(p, 'abcdef');
      const fh = await fsp.open(p, flags);
      if (flags === 'r+') await fh.read(Buffer.alloc(2), 0, 2, null);
      const ws = fh.createWriteStream();
      const closed = event(ws, 'close');
      ws.write(Buffer.alloc(20_000, 0x31)); // above the highWaterMark: accepted ahead on ours
      ws.write('2345');
      ws.end('67');
      await closed;
      assert.equal(fh.fd, -1);
      results.push(nfs.readFileSync(p, 'latin1'));
    }
    assert.equal(results[1], results[0], flags);
  }
});
