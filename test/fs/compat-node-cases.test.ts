/**
 * uringkit/fs beside node:fs/promises on the cases where running Node's own
 * fs/promises test files against uringkit/fs found a difference (each test
 * here is ours: the same calls on both modules, the same outcome):
 * abort check points reached after a ring operation completed inline, the
 * 2 GiB readFile limit, methods called on a foreign receiver, bigint read
 * positions past 2^53, node:fs's streams given our FileHandle as `fd`, and
 * the handle streams' `signal` option (already aborted, or not a signal).
 */
import assert from 'node:assert/strict';
import nfs from 'node:fs';
import nodeFsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import ukFs from '../../src/fs/promises/index.js';

type Fsp = typeof nodeFsp;
const SIDES: [string, Fsp][] = [['node', nodeFsp], ['uringkit', ukFs]];

const root = nfs.mkdtempSync(path.join(os.tmpdir(), 'uk-fs-nodecases-'));
after(() => nfs.rmSync(root, { recursive: true, force: true }));
let n = 0;
function fresh(content: string | Buffer = ''): string {
  const p = path.join(root, `f${n++}`);
  nfs.writeFileSync(p, content);
  return p;
}

/** Settles `p` within 10 s (every wait in this file is bounded). */
async function bounded<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('not settled within 10 s')), 10_000);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

/** The outcome's shape: 'ok' or the error's name, code and message. */
async function outcome(fn: () => Promise<unknown>): Promise<string> {
  try {
    await bounded(fn());
    return 'ok';
  } catch (e) {
    const err = e as Error & { code?: unknown };
    return `${err.name} ${String(err.code)} ${err.message}`;
  }
}

/** Runs `make(fsp)` on both modules and asserts the same outcome; returns it. */
async function same(make: (fsp: Fsp) => Promise<unknown>): Promise<string> {
  const [a, b] = [await outcome(() => make(nodeFsp)), await outcome(() => make(ukFs))];
  assert.equal(b, a);
  return a;
}

const BIG = Buffer.from('dogs running '.repeat(10_000));

describe('abort check points (an abort queued in the calling turn is seen, as node sees it)', () => {
  test('readFile(path) with an abort from process.nextTick', async () => {
    const f = fresh(BIG);
    const r = await same((fsp) => {
      const c = new AbortController();
      process.nextTick(() => c.abort());
      return fsp.readFile(f, { signal: c.signal });
    });
    assert.match(r, /^AbortError ABORT_ERR/);
  });

  test('FileHandle.readFile with an abort from process.nextTick and from the first setImmediate', async () => {
    const f = fresh(BIG);
    for (const later of [process.nextTick, setImmediate] as ((cb: () => void) => void)[]) {
      const r = await same(async (fsp) => {
        const h = await fsp.open(f, 'r');
        try {
          const c = new AbortController();
          later(() => c.abort());
          return await h.readFile({ signal: c.signal, encoding: 'utf8' });
        } finally {
          await h.close();
        }
      });
      assert.match(r, /^AbortError ABORT_ERR/);
    }
  });

  test('writeFile(path) of 6 MiB with an abort from process.nextTick', async () => {
    const r = await same((fsp) => {
      const c = new AbortController();
      process.nextTick(() => c.abort());
      return fsp.writeFile(path.join(root, `w${n++}`), Buffer.alloc(6 << 20, 0x61), { signal: c.signal });
    });
    assert.match(r, /^AbortError ABORT_ERR/);
  });

  test('FileHandle.writeFile of an iterable that yields nothing, aborted while the file was opening', async () => {
    const r = await same(async (fsp) => {
      const c = new AbortController();
      process.nextTick(() => c.abort());
      const h = await fsp.open(path.join(root, `w${n++}`), 'w+');
      try {
        const none = (function* () { /* nothing */ })() as unknown as string;
        return await h.writeFile(none, { signal: c.signal });
      } finally {
        await h.close();
      }
    });
    assert.match(r, /^AbortError ABORT_ERR/);
  });

  test('without an abort, the same calls succeed with the same data', async () => {
    const f = fresh(BIG);
    for (const [, fsp] of SIDES) {
      const c = new AbortController();
      assert.deepEqual(await fsp.readFile(f, { signal: c.signal }), BIG);
      const w = path.join(root, `w${n++}`);
      await fsp.writeFile(w, BIG, { signal: c.signal });
      assert.deepEqual(nfs.readFileSync(w), BIG);
    }
  });
});

describe('limits and receivers', () => {
  test('readFile of a regular file over 2 GiB - 1: ERR_FS_FILE_TOO_LARGE (path and handle)', async (t) => {
    const f = path.join(root, `big${n++}`);
    nfs.writeFileSync(f, '0');
    try {
      nfs.truncateSync(f, 2 ** 31); // sparse: no data blocks
    } catch (e) {
      t.skip(`cannot make a sparse 2 GiB file in ${root}: ${(e as Error).message}`);
      return;
    }
    const r = await same((fsp) => fsp.readFile(f));
    assert.equal(r, 'RangeError ERR_FS_FILE_TOO_LARGE File size (2147483648) is greater than 2 GiB');
    await same(async (fsp) => {
      const h = await fsp.open(f, 'r');
      try {
        return await h.readFile();
      } finally {
        await h.close();
      }
    });
  });

  test('FileHandle methods called with another `this` reject with ERR_INTERNAL_ASSERTION', async () => {
    const f = fresh('abc');
    for (const m of ['stat', 'sync', 'read', 'write', 'truncate', 'readFile', 'writeFile'] as const) {
      const codes: string[] = [];
      for (const [, fsp] of SIDES) {
        const h = await fsp.open(f, 'r+');
        try {
          const method = h[m] as (...a: unknown[]) => Promise<unknown>;
          await assert.rejects(method.call({}), (e: Error & { code?: string }) => {
            assert.match(e.message, /^handle must be an instance of FileHandle/);
            codes.push(String(e.code));
            return true;
          });
        } finally {
          await h.close();
        }
      }
      assert.deepEqual(codes, ['ERR_INTERNAL_ASSERTION', 'ERR_INTERNAL_ASSERTION'], m);
    }
  });

  test('FileHandle.read at a bigint position past 2^53: as node (Node 21+: the kernel\'s answer, 0 bytes past the end)', async () => {
    const f = fresh('xyz\n');
    for (const position of [2n ** 53n + 5n, 2n ** 63n - 1n - 4n]) {
      const r = await same(async (fsp) => {
        const h = await fsp.open(f, 'r');
        try {
          const { bytesRead } = await h.read(Buffer.alloc(4), 0, 4, position as unknown as number);
          if (bytesRead !== 0) throw new Error(`read ${bytesRead}`);
        } finally {
          await h.close();
        }
      });
      if (Number(process.versions.node.split('.')[0]) < 21) {
        // Node 20 takes a position that is not a safe integer as "the current position": 4 bytes from 0.
        assert.equal(r, 'Error undefined read 4');
      } else {
        // Past the largest offset the filesystem takes, both see the same errno; otherwise both read 0 bytes.
        assert.match(r, /^ok$|EFBIG|EOVERFLOW|EINVAL/);
      }
    }
  });
});

describe("node:fs streams given our FileHandle as `fd` (as node's own)", () => {
  test('our FileHandle is an instance of node:fs/promises\' FileHandle class', async () => {
    const f = fresh('x');
    const nh = await nodeFsp.open(f, 'r');
    const uh = await ukFs.open(f, 'r');
    try {
      assert.ok(uh instanceof (nh.constructor as new () => unknown));
    } finally {
      await nh.close();
      await uh.close();
    }
  });

  test('fs.createReadStream(null, { fd: handle }) reads the file; the handle\'s close ends the stream', async () => {
    const f = fresh(BIG);
    for (const [, fsp] of SIDES) {
      const h = await fsp.open(f, 'r');
      const chunks: Buffer[] = [];
      const stream = nfs.createReadStream(null as unknown as string, { fd: h as unknown as number });
      for await (const c of stream) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), BIG);
      assert.equal(h.fd, -1, 'autoClose closed the handle');
    }
  });

  test('fs.createWriteStream(null, { fd: handle }) writes through the handle, then closes it', async () => {
    for (const [, fsp] of SIDES) {
      const f = path.join(root, `ws${n++}`);
      const h = await fsp.open(f, 'w');
      const stream = nfs.createWriteStream(null as unknown as string, { fd: h as unknown as number });
      await bounded(new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.on('close', resolve);
        stream.write('hello ');
        stream.end('world');
      }));
      assert.equal(nfs.readFileSync(f, 'utf8'), 'hello world');
      assert.equal(h.fd, -1);
    }
  });
});

describe('readableWebStream', () => {
  test('one per handle: after it was read to the end, another throws ERR_INVALID_STATE', async () => {
    const f = fresh(BIG);
    for (const [, fsp] of SIDES) {
      const h = await fsp.open(f, 'r');
      try {
        let total = 0;
        for await (const chunk of h.readableWebStream({ type: 'bytes' }) as AsyncIterable<Uint8Array>) total += chunk.byteLength;
        assert.equal(total, BIG.length);
        assert.throws(() => h.readableWebStream(), { code: 'ERR_INVALID_STATE' });
      } finally {
        await h.close();
      }
    }
  });
});

describe('readableWebStream type', () => {
  test('a type other than bytes: Node 24 warns (ExperimentalWarning), as ours does there', async (t) => {
    if (Number(process.versions.node.split('.')[0]) < 24) {
      t.skip(`Node ${process.versions.node}: the warning is Node 24's`);
      return;
    }
    const f = fresh('abc');
    for (const [, fsp] of SIDES) {
      const h = await fsp.open(f, 'r');
      const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
      const stream = h.readableWebStream({ type: 'foobar' } as unknown as { type: 'bytes' });
      const w = await bounded(warned);
      assert.equal(w.name, 'ExperimentalWarning');
      assert.match(w.message, /non-"bytes" options.type has no effect/);
      await stream.cancel();
      await h.close();
    }
  });
});

describe("the handle streams' signal option", () => {
  test('an already-aborted signal: one AbortError, then close, no data', async () => {
    const f = fresh('abc');
    const seen: string[][] = [];
    for (const [, fsp] of SIDES) {
      const h = await fsp.open(f, 'r');
      const events: string[] = [];
      const stream = h.createReadStream({ signal: AbortSignal.abort() });
      stream.on('data', () => events.push('data'));
      stream.on('end', () => events.push('end'));
      stream.on('error', (e) => events.push(`error ${e.name}`));
      await bounded(new Promise<void>((resolve) => stream.on('close', resolve)));
      events.push('close');
      await h.close();
      seen.push(events);
    }
    assert.deepEqual(seen[1], seen[0]);
    assert.deepEqual(seen[0], ['error AbortError', 'close']);
  });

  test('a signal that is not an AbortSignal throws ERR_INVALID_ARG_TYPE at once (read and write streams)', async () => {
    const f = fresh('abc');
    for (const signal of [1, {}, null, '', false]) {
      for (const [, fsp] of SIDES) {
        const h = await fsp.open(f, 'r+');
        try {
          const opts = { signal } as unknown as { signal: AbortSignal };
          assert.throws(() => h.createReadStream(opts), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
          assert.throws(() => h.createWriteStream(opts as object), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
        } finally {
          await h.close();
        }
      }
    }
  });
});
