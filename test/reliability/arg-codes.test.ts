/**
 * Every argument error carries a Node-style `code`. Each function that takes
 * a path or a buffer (ring operations, File, readFile/writeFile/copyFile) is
 * called with detached views (a Uint8Array, a Buffer, a DataView whose
 * ArrayBuffer was transferred away: on Node 20 they look like empty views),
 * detached paths, and hostile values in every argument position; whatever it
 * throws or rejects with must have a string `code`. Detached memory is
 * refused with ERR_INVALID_ARG_VALUE on every Node version. Also pins the
 * documented `timeout: 0` convention (an immediate deadline).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';

import { copyFile, File, readFile, Ring, writeFile } from '../../src/index.js';
import { makeFifo } from '../helpers/fifo.js';
import { tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { HOSTILE_NUMBERS, HOSTILE_OTHERS } from './hostile.js';

const ring = Ring.current();
const portable = ring.info.backend === 'portable';
let tmp: TmpDir;
let fd = -1;
let file: File;
let existing: string;

before(async () => {
  tmp = tmpDir('uringkit-argcodes-');
  existing = tmp.file('exists.txt');
  fs.writeFileSync(existing, 'hello');
  fd = fs.openSync(tmp.file('rw.bin'), 'w+');
  file = await File.open(tmp.file('file.bin'), 'w+');
});

after(async () => {
  await file.close();
  fs.closeSync(fd);
  tmp.remove();
});

function detachedView(kind: 'uint8' | 'buffer' | 'dataview'): ArrayBufferView {
  const ab = new ArrayBuffer(16);
  const v = kind === 'uint8' ? new Uint8Array(ab, 4) : kind === 'buffer' ? Buffer.from(ab, 2, 8) : new DataView(ab, 2, 4);
  structuredClone(ab, { transfer: [ab] });
  return v;
}

/** Calls `call`; returns the error it threw or rejected with, or undefined when it succeeded. */
async function outcome(call: () => unknown): Promise<unknown> {
  try {
    const r = call();
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') await r;
    return undefined;
  } catch (e) {
    return e;
  }
}

function uncoded(e: unknown): boolean {
  return !(e instanceof Error) || typeof (e as { code?: unknown }).code !== 'string';
}

/** Functions taking a path, called with `p` as (one of) the path(s). Paths are never strings here (no file is made). */
const PATH_FUNCTIONS: Record<string, (p: unknown) => unknown> = {
  'ring.open': (p) => ring.open(p as string),
  'ring.statx': (p) => ring.statx(p as string),
  'ring.unlink': (p) => ring.unlink(p as string),
  'ring.rmdir': (p) => ring.rmdir(p as string),
  'ring.mkdir': (p) => ring.mkdir(p as string),
  'ring.mkdir (recursive)': (p) => ring.mkdir(p as string, { recursive: true }),
  'ring.rename (old)': (p) => ring.rename(p as string, tmp.file('never')),
  'ring.rename (new)': (p) => ring.rename(tmp.file('missing'), p as string),
  'ring.symlink (target)': (p) => ring.symlink(p as string, tmp.file('never')),
  'ring.symlink (path)': (p) => ring.symlink(tmp.file('t'), p as string),
  'ring.link (existing)': (p) => ring.link(p as string, tmp.file('never')),
  'ring.link (new)': (p) => ring.link(tmp.file('missing'), p as string),
  'File.open': (p) => File.open(p as string),
  readFile: (p) => readFile(p as string),
  writeFile: (p) => writeFile(p as string, 'x'),
  'copyFile (src)': (p) => copyFile(p as string, tmp.file('never')),
  'copyFile (dest)': (p) => copyFile(existing, p as string),
};

/** Functions taking a buffer, called with `b` as the buffer. */
const BUFFER_FUNCTIONS: Record<string, (b: unknown) => unknown> = {
  'ring.read': (b) => ring.read(fd, b as Buffer),
  'ring.write': (b) => ring.write(fd, b as Buffer),
  'ring.readv': (b) => ring.readv(fd, [b as Buffer]),
  'ring.writev': (b) => ring.writev(fd, [Buffer.from('x'), b as Buffer]),
  'File.read': (b) => file.read(b as Buffer),
  'File.write': (b) => file.write(b as Buffer),
  'File.readAll': (b) => file.readAll(b as Buffer),
  'File.writeAll': (b) => file.writeAll(b as Buffer),
  'writeFile (data)': (b) => writeFile(tmp.file('data-target'), b as Buffer),
};

describe('argument errors carry a code', () => {
  test('a detached Uint8Array as a path: ERR_INVALID_ARG_VALUE from every path function', async () => {
    for (const [name, fn] of Object.entries(PATH_FUNCTIONS)) {
      const e = await outcome(() => fn(detachedView('uint8')));
      assert.ok(e instanceof TypeError, `${name}: ${String(e)}`);
      assert.equal((e as { code?: string }).code, 'ERR_INVALID_ARG_VALUE', `${name}: ${String(e)}`);
      assert.match((e as Error).message, /detached/, name);
    }
  });

  test('detached views as buffers: ERR_INVALID_ARG_VALUE from every buffer function (Node 20 too)', async () => {
    for (const kind of ['uint8', 'buffer', 'dataview'] as const) {
      for (const [name, fn] of Object.entries(BUFFER_FUNCTIONS)) {
        const e = await outcome(() => fn(detachedView(kind)));
        assert.equal((e as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_VALUE', `${name}(${kind}): ${String(e)}`);
      }
    }
  });

  test('hostile values in path and buffer positions: every failure has a string code', async () => {
    const values: unknown[] = [...HOSTILE_NUMBERS, ...HOSTILE_OTHERS.filter((v) => typeof v !== 'string'),
      new ArrayBuffer(4), new SharedArrayBuffer(4), new Uint8Array([0x61, 0, 0x62]), detachedView('dataview')];
    const bad: string[] = [];
    for (const v of values) {
      for (const [name, fn] of [...Object.entries(PATH_FUNCTIONS), ...Object.entries(BUFFER_FUNCTIONS)]) {
        const e = await outcome(() => fn(v));
        if (e !== undefined && uncoded(e)) bad.push(`${name}(${String(typeof v === 'symbol' ? 'Symbol' : v)}): ${String(e)}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  test('hostile options and fds: every failure has a string code', async () => {
    const values: unknown[] = [...HOSTILE_NUMBERS, ...HOSTILE_OTHERS];
    const calls: Record<string, (v: unknown) => unknown> = {
      // Valid small fds (0, 1) are real: a deadline bounds a read that would wait on them. Not on the
      // portable backend: there the read settles at its deadline too, but the libuv pool read it leaves
      // on the runner's stdio socket (which never gets data) would keep this process from exiting
      // (docs/guides/portable.md, known limits; reliability/blocking-fd-read covers that read on a FIFO).
      'ring.read fd': (v) => (portable && (v === 0 || v === 1) ? undefined
        : ring.read(v as number, Buffer.alloc(4), { timeout: 50 })),
      'ring.read options': (v) => ring.read(fd, Buffer.alloc(4), v as object),
      'ring.read position': (v) => ring.read(fd, Buffer.alloc(4), { position: v as number }),
      'ring.write length': (v) => ring.write(fd, Buffer.alloc(4), { length: v as number }),
      'ring.open flags': (v) => ring.open(existing, v as string),
      'ring.open mode': (v) => ring.open(tmp.file('never-created'), 'r', v as number),
      'ring.statx options': (v) => ring.statx(existing, v as object),
      'ring.fallocate offset': (v) => ring.fallocate(fd, v as number, 1),
      'ring.splice length': (v) => ring.splice(fd, 0, fd, 0, v as number),
      'ring.sleep ms': (v) => ring.sleep(v as number, { timeout: 50 }),
      'ring.nop timeout': (v) => ring.nop({ timeout: v as number }),
      'ring.nop signal': (v) => ring.nop({ signal: v as AbortSignal }),
      'File.open flags': (v) => File.open(existing, v as string),
      'readFile options': (v) => readFile(existing, v as object),
    };
    const bad: string[] = [];
    for (const v of values) {
      for (const [name, fn] of Object.entries(calls)) {
        const e = await outcome(() => fn(v));
        if (e instanceof File) await e.close();
        if (e !== undefined && uncoded(e)) bad.push(`${name}(${String(typeof v === 'symbol' ? 'Symbol' : v)}): ${String(e)}`);
      }
    }
    assert.deepEqual(bad, []);
    assert.equal(ring.stats().inFlight, 0);
  });
});

describe('results past the largest file size', () => {
  test('fallocate with offset + length past 2^53 - 1 rejects EFBIG (syscall fallocate), never stays in flight', async () => {
    for (const [offset, length] of [[2 ** 53 - 1, 16], [2 ** 52, 2 ** 52]] as const) {
      const e = await outcome(() => file.allocate(offset, length));
      assert.equal((e as { code?: string } | undefined)?.code, 'EFBIG', `allocate(${offset}, ${length}): ${String(e)}`);
      assert.equal((e as { syscall?: string }).syscall, 'fallocate');
      assert.equal((e as { errno?: number }).errno, -os.constants.errno.EFBIG);
    }
    assert.equal(ring.stats().inFlight, 0);
  });
});

describe('timeout: 0 is an immediate deadline (documented in docs/guides/ring.md)', () => {
  test('an operation that would wait rejects ETIMEDOUT at once; one that completes inline resolves', async () => {
    const fifo = makeFifo();
    try {
      const e = await outcome(() => ring.read(fifo.fd, Buffer.alloc(8), { timeout: 0 }));
      assert.equal((e as { code?: string }).code, 'ETIMEDOUT', String(e));
      fifo.write('abc');
      assert.equal(await ring.read(fifo.fd, Buffer.alloc(8), { timeout: 0 }), 3, 'ready data is still read');
      await ring.nop({ timeout: 0 });
      const s = await outcome(() => ring.sleep(50, { timeout: 0 }));
      assert.equal((s as { code?: string }).code, 'ETIMEDOUT');
    } finally {
      fifo.close();
    }
  });

  test('no deadline is spelled by leaving timeout out (undefined)', async () => {
    await ring.sleep(5, { timeout: undefined });
    assert.throws(() => ring.nop({ timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => ring.nop({ timeout: null as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});

