/**
 * uringkit/fs streams and handle extras against node's: the same bytes,
 * chunk sizes, events and error shapes; no fd left behind; GC of an
 * unclosed FileHandle closes it with node's warnings.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import nfs from 'node:fs';
import nodeFsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';

import ukFs, { createReadStream, createWriteStream, ReadStream, WriteStream, READ_AHEAD } from '../../src/fs/promises/index.js';
import { waitUntil } from '../helpers/loop.js';

let dir: string;
let big: string;
const DATA = randomBytes(3 * 65536 + 12345);

before(() => {
  dir = nfs.mkdtempSync(path.join(os.tmpdir(), 'uk-fscompat-streams-'));
  big = path.join(dir, 'big');
  nfs.writeFileSync(big, DATA);
});
after(() => nfs.rmSync(dir, { recursive: true, force: true }));

/** Fds of this process that point into the test directory (leak check). */
function openFds(): string[] {
  const out: string[] = [];
  for (const name of nfs.readdirSync('/proc/self/fd')) {
    try {
      const target = nfs.readlinkSync(`/proc/self/fd/${name}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // the listing's own fd, closed meanwhile
    }
  }
  return out.sort();
}

interface Trace {
  events: string[];
  chunks: number[];
  data: Buffer | string;
  bytesRead?: number;
  error?: Record<string, unknown>;
}

function shapeErr(e: unknown): Record<string, unknown> {
  const err = e as Record<string, unknown> & Error;
  const out: Record<string, unknown> = { name: err.name, message: err.message.split(dir).join('<dir>') };
  for (const k of ['code', 'errno', 'syscall']) if (k in err) out[k] = err[k];
  if (typeof err['path'] === 'string') out['path'] = (err['path'] as string).split(dir).join('<dir>');
  return out;
}

/** Consumes a read stream to its 'close', bounded by the test timeout. */
function trace(s: Readable & { bytesRead?: number }): Promise<Trace> {
  return new Promise((resolve) => {
    const t: Trace = { events: [], chunks: [], data: '' };
    const parts: (Buffer | string)[] = [];
    for (const ev of ['open', 'ready', 'end']) s.on(ev, () => t.events.push(ev));
    s.on('data', (c: Buffer | string) => {
      parts.push(c);
      t.chunks.push(c.length);
    });
    s.on('error', (e) => {
      t.events.push('error');
      t.error = shapeErr(e);
    });
    s.on('close', () => {
      t.events.push('close');
      t.data = parts.length > 0 && typeof parts[0] === 'string' ? parts.join('') : Buffer.concat(parts as Buffer[]);
      t.bytesRead = s.bytesRead;
      resolve(t);
    });
  });
}

describe('createReadStream vs fs.createReadStream', () => {
  const variants: [string, Record<string, unknown>][] = [
    ['defaults', {}],
    ['start', { start: 1000 }],
    ['start + end', { start: 70000, end: 140000 }],
    ['end only', { end: 99 }],
    ['end 0', { end: 0 }],
    ['start at EOF', { start: DATA.length }],
    ['start past EOF', { start: DATA.length + 10 }],
    ['small highWaterMark', { highWaterMark: 1000, end: 20000 }],
    ['odd highWaterMark', { highWaterMark: 65537 }],
    ['encoding hex', { encoding: 'hex', end: 5000 }],
  ];
  for (const [name, opts] of variants) {
    test(name, async () => {
      const before = openFds();
      const want = trace(nfs.createReadStream(big, opts as never));
      const got = trace(createReadStream(big, opts as never));
      const [n, u] = await Promise.all([want, got]);
      assert.deepEqual(u.events, n.events);
      assert.deepEqual(u.chunks, n.chunks);
      assert.deepEqual(u.data, n.data);
      assert.equal(u.bytesRead, n.bytesRead);
      assert.deepEqual(openFds(), before, 'no fd left open');
    });
  }

  test('emitClose false: same data, no close event, fd closed', async () => {
    const read = async (s: Readable): Promise<[Buffer, boolean]> => {
      let closed = false;
      s.on('close', () => (closed = true));
      const parts: Buffer[] = [];
      for await (const c of s) parts.push(c as Buffer);
      await new Promise((r) => setImmediate(r));
      return [Buffer.concat(parts), closed];
    };
    const [a] = await read(nfs.createReadStream(big, { emitClose: false, end: 10 }));
    const s = createReadStream(big, { emitClose: false, end: 10 });
    const [b] = await read(s);
    assert.deepEqual(b, a);
    // No close event to wait for: the close runs after the end (later on the portable backend, in libuv's pool).
    assert.ok(await waitUntil(() => s.fd === null, 10_000), `fd ${s.fd} still open`);
  });

  test('ENOENT: same error event, then close', async () => {
    const p = path.join(dir, 'nope');
    const [n, u] = await Promise.all([trace(nfs.createReadStream(p)), trace(createReadStream(p))]);
    assert.deepEqual(u.events, n.events);
    assert.deepEqual(u.error, n.error);
  });

  test('a directory: EISDIR on the first read, as node', async () => {
    const [n, u] = await Promise.all([trace(nfs.createReadStream(dir)), trace(createReadStream(dir))]);
    assert.deepEqual(u.events, n.events);
    assert.deepEqual(u.error, n.error);
  });

  test('a character device (not positional): /dev/zero with end', async () => {
    const [n, u] = await Promise.all([
      trace(nfs.createReadStream('/dev/zero', { end: 200000 })),
      trace(createReadStream('/dev/zero', { end: 200000 })),
    ]);
    assert.deepEqual(u.data, n.data);
    assert.equal(u.bytesRead, n.bytesRead);
  });

  test('fd option: reads from the current position, no open event, autoClose closes it', async () => {
    const fd1 = nfs.openSync(big, 'r');
    const fd2 = nfs.openSync(big, 'r');
    nfs.readSync(fd1, Buffer.alloc(100), 0, 100, null);
    nfs.readSync(fd2, Buffer.alloc(100), 0, 100, null);
    const [n, u] = await Promise.all([trace(nfs.createReadStream('', { fd: fd1 })), trace(createReadStream(undefined, { fd: fd2 }))]);
    assert.deepEqual(u.events, n.events);
    assert.deepEqual(u.data, n.data);
    assert.throws(() => nfs.fstatSync(fd2), { code: 'EBADF' });
  });

  test('argument errors are thrown synchronously with node\'s codes', () => {
    for (const o of [{ start: -1 }, { start: 10, end: 5 }, { end: 'x' }, { start: 1.5 }]) {
      let ne: unknown;
      try {
        nfs.createReadStream(big, o as never).destroy();
      } catch (e) {
        ne = e;
      }
      assert.ok(ne, JSON.stringify(o));
      assert.throws(() => createReadStream(big, o as never), { code: (ne as { code: string }).code, name: (ne as Error).name });
    }
  });

  test('destroy mid-stream with reads in flight: close after they complete, no fd left', async () => {
    const before = openFds();
    const s = createReadStream(big, { highWaterMark: 4096 });
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.destroy();
    await closed;
    assert.equal(s.fd, null);
    assert.deepEqual(openFds(), before);
  });

  test('signal: aborting destroys with node\'s AbortError', async () => {
    const ac = new AbortController();
    const s = createReadStream(big, { signal: ac.signal, highWaterMark: 1024 });
    const t = trace(s);
    s.once('data', () => ac.abort());
    const r = await t;
    assert.equal(r.error?.['name'], 'AbortError');
    assert.equal(r.error?.['code'], 'ABORT_ERR');
  });

  test('slow consumer: backpressure keeps at most highWaterMark + read-ahead buffered', async () => {
    const hwm = 16384;
    const s = createReadStream(big, { highWaterMark: hwm });
    let max = 0;
    let total = 0;
    await pipeline(s, new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        total += chunk.length;
        max = Math.max(max, s.readableLength);
        setImmediate(cb);
      },
    }));
    assert.equal(total, DATA.length);
    assert.ok(max <= hwm * (READ_AHEAD + 1), `buffered ${max}`);
  });

  test('is a stream.Readable and a ReadStream; path, pending, bytesRead', async () => {
    const s = createReadStream(big, { end: 9 });
    assert.ok(s instanceof Readable && s instanceof ReadStream);
    assert.equal(s.path, big);
    assert.equal(s.pending, true);
    await new Promise((r) => s.once('ready', r));
    assert.equal(s.pending, false);
    assert.equal(typeof s.fd, 'number');
    for await (const _ of s) { /* drain */ }
    assert.equal(s.bytesRead, 10);
  });

  test('custom fs option: node:fs builds the stream', async () => {
    let opened = 0;
    const custom = { ...nfs, open: (...a: unknown[]) => { opened++; return (nfs.open as (...x: unknown[]) => void)(...a); } };
    const t = await trace(createReadStream(big, { fs: custom, end: 9 }));
    assert.equal(opened, 1);
    assert.deepEqual(t.data, DATA.subarray(0, 10));
  });
});

describe('createWriteStream vs fs.createWriteStream', () => {
  async function writeWith(make: (p: string) => Writable, p: string, chunks: (Buffer | string)[]): Promise<[string[], number]> {
    const events: string[] = [];
    const s = make(p);
    for (const ev of ['open', 'ready', 'finish', 'close']) s.on(ev, () => events.push(ev));
    s.on('error', (e) => events.push(`error ${(e as { code?: string }).code}`));
    await new Promise<void>((resolve) => {
      s.on('close', () => resolve());
      for (const c of chunks) s.write(c);
      s.end();
    });
    return [events, (s as WriteStream).bytesWritten];
  }

  test('chunks, strings and a big buffer: same file, events, bytesWritten', async () => {
    const chunks = [Buffer.from('abc'), 'déf', DATA, Buffer.alloc(0), 'tail'];
    const a = path.join(dir, 'wa');
    const b = path.join(dir, 'wb');
    const n = await writeWith((p) => nfs.createWriteStream(p), a, chunks);
    const u = await writeWith((p) => createWriteStream(p), b, chunks);
    assert.deepEqual(u, n);
    assert.deepEqual(nfs.readFileSync(b), nfs.readFileSync(a));
  });

  test('start with r+, flags a, flush, encoding', async () => {
    for (const opts of [{ flags: 'r+', start: 5 }, { flags: 'a' }, { flush: true }, { encoding: 'hex' as const }]) {
      const a = path.join(dir, 'sa');
      const b = path.join(dir, 'sb');
      nfs.writeFileSync(a, '0123456789');
      nfs.writeFileSync(b, '0123456789');
      const n = await writeWith((p) => nfs.createWriteStream(p, opts), a, ['cafe', 'babe']);
      const u = await writeWith((p) => createWriteStream(p, opts), b, ['cafe', 'babe']);
      assert.deepEqual(u, n, JSON.stringify(opts));
      assert.deepEqual(nfs.readFileSync(b), nfs.readFileSync(a), JSON.stringify(opts));
    }
  });

  test('open error: EISDIR event shape as node', async () => {
    const n = await writeWith((p) => nfs.createWriteStream(p), dir, ['x']);
    const u = await writeWith((p) => createWriteStream(p), dir, ['x']);
    assert.deepEqual(u, n);
  });

  test('pipeline read stream → write stream copies exactly, no fd left', async () => {
    const before = openFds();
    const out = path.join(dir, 'copy');
    await pipeline(createReadStream(big), createWriteStream(out));
    assert.deepEqual(nfs.readFileSync(out), DATA);
    assert.deepEqual(openFds(), before);
  });

  test('many small writes go through _writev: same bytes', async () => {
    const out = path.join(dir, 'many');
    const s = createWriteStream(out, { highWaterMark: 64 });
    const parts: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(`line ${i}\n`);
      parts.push(b);
      s.write(b);
    }
    await new Promise<void>((resolve, reject) => s.end(() => resolve()).on('error', reject));
    assert.deepEqual(nfs.readFileSync(out), Buffer.concat(parts));
  });
});

describe('FileHandle extras', () => {
  test('readLines, createReadStream, createWriteStream on a handle', async () => {
    const p = path.join(dir, 'lines');
    nfs.writeFileSync(p, 'one\r\ntwo\nthree');
    const h = await ukFs.open(p);
    const lines: string[] = [];
    for await (const l of h.readLines()) lines.push(l);
    assert.deepEqual(lines, ['one', 'two', 'three']);
    assert.equal(h.fd, -1, 'autoClose closed the handle');
    const w = await ukFs.open(path.join(dir, 'hw'), 'w');
    await pipeline(Readable.from([Buffer.from('x'), Buffer.from('y')]), w.createWriteStream());
    assert.equal(nfs.readFileSync(path.join(dir, 'hw'), 'utf8'), 'xy');
  });

  test('readableWebStream gives the bytes; the handle is locked meanwhile', async () => {
    const h = await ukFs.open(big);
    const ws = h.readableWebStream();
    assert.throws(() => h.readableWebStream(), { code: 'ERR_INVALID_STATE' });
    const parts: Uint8Array[] = [];
    for await (const c of ws as unknown as AsyncIterable<Uint8Array>) parts.push(c);
    assert.deepEqual(Buffer.concat(parts), DATA);
    await h.close();
    assert.throws(() => h.readableWebStream(), { code: 'ERR_INVALID_STATE' });
  });

  test('an unclosed handle is closed on garbage collection with node\'s warnings', async (t) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) {
      t.skip('needs --expose-gc (scripts/test.mjs passes it)');
      return;
    }
    const warnings: string[] = [];
    const onWarn = (w: Error & { code?: string }): void => {
      warnings.push(`${w.name}:${w.code ?? ''}:${w.message}`);
    };
    process.on('warning', onWarn);
    try {
      let fd = -1;
      await (async () => {
        const h = await ukFs.open(big);
        fd = h.fd;
      })();
      for (let i = 0; i < 50 && warnings.length < 2; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(warnings.includes(`Warning::Closing file descriptor ${fd} on garbage collection`), warnings.join('\n'));
      assert.ok(warnings.some((w) => w.startsWith('DeprecationWarning:DEP0137:')), warnings.join('\n'));
      await new Promise((r) => setTimeout(r, 20));
      assert.throws(() => nfs.fstatSync(fd), { code: 'EBADF' });
    } finally {
      process.off('warning', onWarn);
    }
  });

  test('writeFile with a handle and readFile with a handle (top level)', async () => {
    const p = path.join(dir, 'hf');
    const h = await ukFs.open(p, 'w+');
    await ukFs.writeFile(h, 'abc');
    await ukFs.appendFile(h, 'def');
    await h.read(Buffer.alloc(1), 0, 1, 0);
    assert.equal(nfs.readFileSync(p, 'utf8'), 'abcdef');
    const r = await ukFs.open(p);
    assert.equal(await ukFs.readFile(r, 'utf8'), 'abcdef');
    await r.close();
    await h.close();
  });

  test('readFile with a signal aborted mid-way rejects with AbortError', async () => {
    const ac = new AbortController();
    const p = ukFs.readFile(big, { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(p, (e: Error & { code?: string; cause?: unknown }) => e.name === 'AbortError' &&
      e.code === 'ABORT_ERR');
    const q = nodeFsp.readFile(big, { signal: AbortSignal.abort() });
    await assert.rejects(q, { name: 'AbortError', code: 'ABORT_ERR' });
  });
});
