/**
 * Bad arguments to every file operation throw synchronously (TypeError /
 * RangeError with node's ERR_* codes) in the promise and the callback form,
 * and submit nothing: ring.stats().submitted does not move and no callback
 * runs. The File helpers are held to the same contract, and a bad argument
 * must never touch a file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { File, Ring, copyFile, readFile, writeFile } from '../../src/index.js';
import { RANGE, TYPE, VALUE, assertThrowsCoded, tmpDir, type Expect, type TmpDir } from '../helpers/fs-util.js';
import { turns } from '../helpers/loop.js';

const ring = Ring.current();
type AnyFn = (...args: unknown[]) => unknown;
const loose = ring as unknown as Record<string, AnyFn>;

let tmp: TmpDir;
let file: string;
let fd: number;
before(() => {
  tmp = tmpDir('uringkit-args-');
  file = tmp.file('file');
  fs.writeFileSync(file, 'content');
  fd = fs.openSync(file, 'r+');
});
after(() => {
  fs.closeSync(fd);
  tmp.remove();
});

/** A view of a resizable ArrayBuffer (refused: it can move under the kernel). */
function resizableView(): Uint8Array {
  const Ctor = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
  return new Uint8Array(new Ctor(8, { maxByteLength: 64 }));
}

type Case = [label: string, method: string, args: () => unknown[], expect: Expect];

const buf8 = () => Buffer.alloc(8);
const NUL = 'a\u0000b';

const BAD_FD: [string, unknown, Expect][] = [
  ['-1', -1, RANGE], ['"3"', '3', TYPE], ['1.5', 1.5, RANGE], ['NaN', NaN, RANGE], ['2**31', 2 ** 31, RANGE],
  ['undefined', undefined, TYPE], ['null', null, TYPE], ['3n', 3n, TYPE],
];
const BAD_POSITION: [string, unknown, Expect][] = [
  ['-2', -2, RANGE], ['1.5', 1.5, RANGE], ['NaN', NaN, RANGE], ['Infinity', Infinity, RANGE],
  ['2**53', 2 ** 53, RANGE], ['-2n', -2n, RANGE], ['2n**63n', 2n ** 63n, RANGE], ['"0"', '0', TYPE], ['{}', {}, TYPE],
];
const BAD_WINDOW: [string, object, Expect][] = [
  ['offset -1', { offset: -1 }, RANGE], ['offset NaN', { offset: NaN }, RANGE], ['offset 1.5', { offset: 1.5 }, RANGE],
  ['offset 9 (> byteLength 8)', { offset: 9 }, RANGE], ['offset "0"', { offset: '0' }, TYPE],
  ['offset Infinity', { offset: Infinity }, RANGE],
  ['length -1', { length: -1 }, RANGE], ['length NaN', { length: NaN }, RANGE], ['length 2**53', { length: 2 ** 53 }, RANGE],
  ['length 9 (> byteLength 8)', { length: 9 }, RANGE], ['offset 4 + length 5 > 8', { offset: 4, length: 5 }, RANGE],
  ['length 2**31 (> MAX_RW)', { length: 2 ** 31 }, RANGE], ['length "1"', { length: '1' }, TYPE],
];
const BAD_OPTIONS: [string, unknown, Expect][] = [
  ['a string', 'x', TYPE], ['a number', 5, TYPE], ['signal {}', { signal: {} }, TYPE],
  ['timeout -1', { timeout: -1 }, RANGE], ['timeout NaN', { timeout: NaN }, RANGE], ['timeout "5"', { timeout: '5' }, TYPE],
  ['ref 1', { ref: 1 }, TYPE],
];

const cases: Case[] = [];
const add = (label: string, method: string, args: () => unknown[], expect: Expect) =>
  cases.push([label, method, args, expect]);

// open
for (const [l, v, e] of [['123', 123, TYPE], ['null', null, TYPE], ['undefined', undefined, TYPE], ['{}', {}, TYPE],
  ['NUL in a string', NUL, VALUE], ['NUL in a Buffer', Buffer.from(NUL), VALUE], ['an http URL', new URL('http://x/'), TYPE],
] as [string, unknown, Expect][]) add(`open: path ${l}`, 'open', () => [v, 'r'], e);
for (const [l, v, e] of [['"zz"', 'zz', VALUE], ['{}', {}, TYPE], ['-1', -1, RANGE], ['1.5', 1.5, RANGE],
  ['2**32', 2 ** 32, RANGE], ['true', true, TYPE]] as [string, unknown, Expect][]) {
  add(`open: flags ${l}`, 'open', () => [file, v], e);
}
for (const [l, v, e] of [['-1', -1, RANGE], ['"abc"', 'abc', VALUE], ['0o10000', 0o10000, RANGE], ['1.5', 1.5, RANGE],
  ['{}', {}, TYPE], ['"8"', '8', VALUE]] as [string, unknown, Expect][]) {
  add(`open: mode ${l}`, 'open', () => [file, 'r', v], e);
}
for (const [l, v, e] of BAD_OPTIONS) add(`open: options ${l}`, 'open', () => [file, 'r', 0o666, v], e);

// read / write
for (const m of ['read', 'write']) {
  for (const [l, v, e] of BAD_FD) add(`${m}: fd ${l}`, m, () => [v, buf8()], e);
  for (const [l, v, e] of BAD_WINDOW) add(`${m}: ${l}`, m, () => [fd, buf8(), v], e);
  for (const [l, v, e] of BAD_POSITION) add(`${m}: position ${l}`, m, () => [fd, buf8(), { position: v }], e);
  for (const [l, v, e] of BAD_OPTIONS) add(`${m}: options ${l}`, m, () => [fd, buf8(), v], e);
  add(`${m}: resizable ArrayBuffer view`, m, () => [fd, resizableView()], TYPE);
  add(`${m}: ArrayBuffer (not a view)`, m, () => [fd, new ArrayBuffer(8)], TYPE);
  add(`${m}: an array`, m, () => [fd, [1, 2, 3]], TYPE);
}
add('read: a string buffer', 'read', () => [fd, 'string'], TYPE);
add('read: null buffer', 'read', () => [fd, null], TYPE);
add('write: data 123', 'write', () => [fd, 123], TYPE);
add('write: data null', 'write', () => [fd, null], TYPE);
add('write: data {}', 'write', () => [fd, {}], TYPE);
add('write: encoding "bogus"', 'write', () => [fd, 'text', { encoding: 'bogus' }], VALUE);
add('write: string, offset beyond the encoded bytes', 'write', () => [fd, 'abc', { offset: 4 }], RANGE);

// readv / writev
for (const m of ['readv', 'writev']) {
  for (const [l, v, e] of BAD_FD) add(`${m}: fd ${l}`, m, () => [v, [buf8()]], e);
  add(`${m}: buffers a string`, m, () => [fd, 'x'], TYPE);
  add(`${m}: buffers a Buffer (not an array)`, m, () => [fd, buf8()], TYPE);
  add(`${m}: buffers []`, m, () => [fd, []], RANGE);
  add(`${m}: buffers ["x"]`, m, () => [fd, ['x']], TYPE);
  add(`${m}: buffers [buf, 5]`, m, () => [fd, [buf8(), 5]], TYPE);
  add(`${m}: 1025 buffers`, m, () => [fd, Array.from({ length: 1025 }, buf8)], RANGE);
  add(`${m}: a resizable view`, m, () => [fd, [buf8(), resizableView()]], TYPE);
  for (const [l, v, e] of BAD_POSITION) add(`${m}: position ${l}`, m, () => [fd, [buf8()], { position: v }], e);
}

// fd-only operations
for (const m of ['fsync', 'fdatasync', 'closeFd']) {
  for (const [l, v, e] of BAD_FD) add(`${m}: fd ${l}`, m, () => [v], e);
  for (const [l, v, e] of BAD_OPTIONS) add(`${m}: options ${l}`, m, () => [fd, v], e);
}

// fallocate / fadvise / ftruncate
for (const [l, v, e] of BAD_FD) add(`fallocate: fd ${l}`, 'fallocate', () => [v, 0, 1], e);
for (const [l, v, e] of [['-1', -1, RANGE], ['NaN', NaN, RANGE], ['"0"', '0', TYPE], ['2**53', 2 ** 53, RANGE],
  ['1.5', 1.5, RANGE]] as [string, unknown, Expect][]) {
  add(`fallocate: offset ${l}`, 'fallocate', () => [fd, v, 1], e);
  add(`fallocate: length ${l}`, 'fallocate', () => [fd, 0, v], e);
  add(`fadvise: offset ${l}`, 'fadvise', () => [fd, v, 1, 0], e);
  add(`fadvise: length ${l}`, 'fadvise', () => [fd, 0, v, 0], e);
  add(`ftruncate: len ${l}`, 'ftruncate', () => [fd, v], e);
}
add('fallocate: mode -1', 'fallocate', () => [fd, 0, 1, { mode: -1 }], RANGE);
add('fallocate: mode 1.5', 'fallocate', () => [fd, 0, 1, { mode: 1.5 }], RANGE);
add('fadvise: length 2**32', 'fadvise', () => [fd, 0, 2 ** 32, 0], RANGE);
for (const [l, v, e] of [['6', 6, RANGE], ['-1', -1, RANGE], ['"0"', '0', TYPE], ['1.5', 1.5, RANGE],
  ['undefined', undefined, TYPE]] as [string, unknown, Expect][]) {
  add(`fadvise: advice ${l}`, 'fadvise', () => [fd, 0, 1, v], e);
}
for (const [l, v, e] of BAD_FD) add(`fadvise: fd ${l}`, 'fadvise', () => [v, 0, 1, 0], e);
for (const [l, v, e] of BAD_FD.filter(([l]) => l !== 'undefined')) add(`ftruncate: fd ${l}`, 'ftruncate', () => [v, 0], e);

// statx
for (const [l, v, e] of [['null', null, TYPE], ['undefined', undefined, TYPE], ['NUL', NUL, VALUE], ['fd -1', -1, RANGE],
  ['fd 1.5', 1.5, RANGE], ['{}', {}, TYPE]] as [string, unknown, Expect][]) {
  add(`statx: target ${l}`, 'statx', () => [v], e);
}
add('statx: bigint "yes"', 'statx', () => [file, { bigint: 'yes' }], TYPE);
add('statx: followSymlinks 1', 'statx', () => [file, { followSymlinks: 1 }], TYPE);
for (const [l, v, e] of BAD_OPTIONS) add(`statx: options ${l}`, 'statx', () => [file, v], e);

// path operations
for (const m of ['unlink', 'rmdir']) {
  add(`${m}: NUL`, m, () => [tmp.file(NUL)], VALUE);
  add(`${m}: 5`, m, () => [5], TYPE);
  add(`${m}: undefined`, m, () => [undefined], TYPE);
  for (const [l, v, e] of BAD_OPTIONS) add(`${m}: options ${l}`, m, () => [tmp.file('x'), v], e);
}
add('mkdir: NUL', 'mkdir', () => [tmp.file(NUL)], VALUE);
add('mkdir: NUL, recursive', 'mkdir', () => [tmp.file(`d/${NUL}`), { recursive: true }], VALUE);
add('mkdir: 5', 'mkdir', () => [5], TYPE);
add('mkdir: 5, recursive', 'mkdir', () => [5, { recursive: true }], TYPE);
add('mkdir: recursive "yes"', 'mkdir', () => [tmp.file('d'), { recursive: 'yes' }], TYPE);
add('mkdir: mode -1', 'mkdir', () => [tmp.file('d'), { mode: -1 }], RANGE);
add('mkdir: mode -1, recursive', 'mkdir', () => [tmp.file('d/e'), { mode: -1, recursive: true }], RANGE);
add('mkdir: options timeout -1, recursive', 'mkdir', () => [tmp.file('d/e'), { timeout: -1, recursive: true }], RANGE);
for (const m of ['rename', 'link', 'symlink']) {
  add(`${m}: NUL in the first path`, m, () => [tmp.file(NUL), tmp.file('new')], VALUE);
  add(`${m}: NUL in the second path`, m, () => [file, tmp.file(NUL)], VALUE);
  add(`${m}: first path a number`, m, () => [5, tmp.file('new')], TYPE);
  add(`${m}: second path undefined`, m, () => [file, undefined], TYPE);
  for (const [l, v, e] of BAD_OPTIONS) add(`${m}: options ${l}`, m, () => [file, tmp.file('new'), v], e);
}

// splice
for (const [l, v, e] of BAD_FD) {
  add(`splice: fdIn ${l}`, 'splice', () => [v, null, fd, null, 1], e);
  add(`splice: fdOut ${l}`, 'splice', () => [fd, null, v, null, 1], e);
}
for (const [l, v, e] of BAD_POSITION) {
  add(`splice: offIn ${l}`, 'splice', () => [fd, v, fd, null, 1], e);
  add(`splice: offOut ${l}`, 'splice', () => [fd, null, fd, v, 1], e);
}
for (const [l, v, e] of [['-1', -1, RANGE], ['NaN', NaN, RANGE], ['2**31', 2 ** 31, RANGE], ['"1"', '1', TYPE],
  ['undefined', undefined, TYPE]] as [string, unknown, Expect][]) {
  add(`splice: length ${l}`, 'splice', () => [fd, null, fd, null, v], e);
}
add('splice: flags -1', 'splice', () => [fd, null, fd, null, 1, { flags: -1 }], RANGE);

describe('ring file operations: bad arguments throw synchronously and submit nothing', () => {
  test(`promise form: ${cases.length} cases`, () => {
    for (const [label, method, args, expect] of cases) {
      const before = ring.stats().submitted;
      assertThrowsCoded(() => loose[method]!.apply(ring, args()), expect, label);
      assert.equal(ring.stats().submitted, before, `${label}: submitted something`);
    }
  });

  test(`callback form: ${cases.length} cases; the callback is never called`, async () => {
    let called = 0;
    const cb = () => {
      called++;
    };
    for (const [label, method, args, expect] of cases) {
      const before = ring.stats().submitted;
      assertThrowsCoded(() => loose[method]!.apply(ring, [...args(), cb]), expect, label);
      assert.equal(ring.stats().submitted, before, `${label}: submitted something`);
    }
    await turns(3);
    assert.equal(called, 0, 'a callback was called');
    assert.equal(ring.stats().inFlight, 0);
  });

  test('a callback that is not a function', () => {
    for (const [label, fn] of [
      ['read', () => loose.read!.call(ring, fd, buf8(), {}, 'nope')],
      ['write', () => loose.write!.call(ring, fd, buf8(), {}, 42)],
      ['open', () => loose.open!.call(ring, file, 'r', 0o666, {}, {})],
      ['statx', () => loose.statx!.call(ring, file, {}, 'cb')],
      ['unlink', () => loose.unlink!.call(ring, tmp.file('x'), {}, 1)],
      ['fsync', () => loose.fsync!.call(ring, fd, {}, null)],
    ] as [string, () => unknown][]) {
      const before = ring.stats().submitted;
      assertThrowsCoded(fn, TYPE, `${label}: callback`);
      assert.equal(ring.stats().submitted, before, label);
    }
  });

  test('the file is untouched by all of the above', () => {
    assert.equal(fs.readFileSync(file, 'utf8'), 'content');
    assert.deepEqual(fs.readdirSync(tmp.dir).sort(), ['file']);
  });
});

describe('File methods: bad arguments throw synchronously and submit nothing', () => {
  test('read / write / readv / writev / truncate / allocate / stat on an open File', async () => {
    await using f = await File.open(file, 'r+');
    const calls: [string, () => unknown, Expect][] = [
      ['read: length 9', () => f.read(buf8(), { length: 9 }), RANGE],
      ['read: position -2', () => f.read(buf8(), { position: -2 }), RANGE],
      ['read: a string', () => f.read('x' as unknown as Buffer), TYPE],
      ['write: offset 9', () => f.write(buf8(), { offset: 9 }), RANGE],
      ['write: data 5', () => f.write(5 as unknown as Buffer), TYPE],
      ['readv: []', () => f.readv([]), RANGE],
      ['writev: ["x"]', () => f.writev(['x' as unknown as Buffer]), TYPE],
      ['truncate: -1', () => f.truncate(-1), RANGE],
      ['allocate: NaN', () => f.allocate(NaN, 1), RANGE],
      ['stat: bigint 1', () => f.stat({ bigint: 1 as unknown as boolean }), TYPE],
    ];
    for (const [label, fn, expect] of calls) {
      const before = ring.stats().submitted;
      assertThrowsCoded(fn, expect, label);
      assert.equal(ring.stats().submitted, before, label);
    }
  });
});

interface HelperCase {
  label: string;
  run: () => unknown;
  expect: Expect;
  /** Files that must be unchanged (path -> content), or absent (null). */
  untouched: [string, string | null][];
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

function helperCases(): HelperCase[] {
  const keep = tmp.file('keep');
  const keepOk: [string, string | null][] = [[keep, 'keep']];
  let openFile: File | undefined;
  const withFile = <T>(fn: (f: File) => T) => () => fn(openFile!);
  const list: Omit<HelperCase, 'setup' | 'teardown'>[] = [
    { label: 'File.open: NUL in path', run: () => File.open(tmp.file(NUL)), expect: VALUE, untouched: [] },
    { label: 'File.open: flags "zz"', run: () => File.open(keep, 'zz'), expect: VALUE, untouched: keepOk },
    { label: 'File.open: mode -1', run: () => File.open(tmp.file('new'), 'w', -1), expect: RANGE,
      untouched: [[tmp.file('new'), null]] },
    { label: 'File.open: options.ring not a Ring', run: () => File.open(keep, 'r', 0o666, { ring: {} as Ring }),
      expect: TYPE, untouched: keepOk },
    { label: 'readFile: NUL in path', run: () => readFile(tmp.file(NUL)), expect: VALUE, untouched: [] },
    { label: 'readFile: path 5', run: () => readFile(5 as unknown as string), expect: TYPE, untouched: [] },
    { label: 'readFile: encoding "bogus"', run: () => readFile(keep, { encoding: 'bogus' as BufferEncoding }),
      expect: VALUE, untouched: keepOk },
    { label: 'writeFile: NUL in path', run: () => writeFile(tmp.file(NUL), 'x'), expect: VALUE, untouched: [] },
    { label: 'writeFile: data 123', run: () => writeFile(keep, 123 as unknown as string), expect: TYPE,
      untouched: keepOk },
    { label: 'writeFile: data null', run: () => writeFile(keep, null as unknown as string), expect: TYPE,
      untouched: keepOk },
    { label: 'writeFile: encoding "bogus"', run: () => writeFile(keep, 'x', { encoding: 'bogus' as BufferEncoding }),
      expect: VALUE, untouched: keepOk },
    { label: 'writeFile: mode -1', run: () => writeFile(keep, 'x', { mode: -1 }), expect: RANGE, untouched: keepOk },
    { label: 'writeFile: flag "zz"', run: () => writeFile(keep, 'x', { flag: 'zz' }), expect: VALUE,
      untouched: keepOk },
    { label: 'copyFile: NUL in src', run: () => copyFile(tmp.file(NUL), tmp.file('copy')), expect: VALUE,
      untouched: [[tmp.file('copy'), null]] },
    { label: 'copyFile: NUL in dest', run: () => copyFile(keep, tmp.file(NUL)), expect: VALUE, untouched: keepOk },
    { label: 'copyFile: dest 5', run: () => copyFile(keep, 5 as unknown as string), expect: TYPE, untouched: keepOk },
    { label: 'File#readAll: position -2', run: withFile((f) => f.readAll(buf8(), { position: -2 })), expect: RANGE,
      untouched: keepOk },
    { label: 'File#readAll: length 9 > buffer', run: withFile((f) => f.readAll(buf8(), { length: 9 })),
      expect: RANGE, untouched: keepOk },
    { label: 'File#readAll: offset 9 > buffer', run: withFile((f) => f.readAll(buf8(), { offset: 9 })),
      expect: RANGE, untouched: keepOk },
    { label: 'File#readAll: offset NaN', run: withFile((f) => f.readAll(buf8(), { offset: NaN })), expect: RANGE,
      untouched: keepOk },
    { label: 'File#readAll: a string', run: withFile((f) => f.readAll('x' as unknown as Buffer)), expect: TYPE,
      untouched: keepOk },
    { label: 'File#writeAll: offset 9 > data', run: withFile((f) => f.writeAll(buf8(), { offset: 9 })),
      expect: RANGE, untouched: keepOk },
    { label: 'File#writeAll: length -1', run: withFile((f) => f.writeAll(buf8(), { length: -1 })), expect: RANGE,
      untouched: keepOk },
    { label: 'File#writeAll: position 1.5', run: withFile((f) => f.writeAll(buf8(), { position: 1.5 })),
      expect: RANGE, untouched: keepOk },
    { label: 'File#writeAll: data 5', run: withFile((f) => f.writeAll(5 as unknown as Buffer)), expect: TYPE,
      untouched: keepOk },
  ];
  return list.map((c) => ({
    ...c,
    setup: async () => {
      fs.writeFileSync(keep, 'keep');
      openFile ??= await File.open(keep, 'r+');
    },
    teardown: async () => {
      await openFile?.close();
      openFile = undefined;
    },
  }));
}

describe('File.open / readFile / writeFile / copyFile / readAll / writeAll: bad arguments', () => {
  test('are thrown synchronously, like the ring operations (not returned as rejected promises)', async () => {
    const notSync: string[] = [];
    for (const c of helperCases()) {
      await c.setup();
      let threw = false;
      try {
        const r = c.run();
        if (r instanceof Promise) await r.catch(() => {});
      } catch {
        threw = true;
      }
      if (!threw) notSync.push(c.label);
      await c.teardown();
    }
    assert.deepEqual(notSync, [], 'not thrown synchronously');
  });

  test('fail with the right code, submit nothing and leave every file untouched (thrown or rejected)', async () => {
    const wrong: string[] = [];
    for (const c of helperCases()) {
      await c.setup();
      const before = ring.stats().submitted;
      let err: unknown;
      try {
        await c.run();
      } catch (e) {
        err = e;
      }
      const submittedNow = ring.stats().submitted - before;
      await c.teardown();
      const e = err as (Error & { code?: unknown }) | undefined;
      const problems: string[] = [];
      if (e === undefined) problems.push('did not fail');
      else {
        if (e.name !== c.expect.name) problems.push(`${e.name} instead of ${c.expect.name}`);
        if (e.code !== c.expect.code) problems.push(`code ${String(e.code)} instead of ${String(c.expect.code)}`);
      }
      if (submittedNow !== 0) problems.push(`submitted ${submittedNow} operations`);
      for (const [p, content] of c.untouched) {
        const now = fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null;
        if (now !== content) problems.push(`${p} is now ${JSON.stringify(now)} (was ${JSON.stringify(content)})`);
      }
      if (problems.length > 0) wrong.push(`${c.label}: ${problems.join('; ')}`);
    }
    assert.deepEqual(wrong, []);
  });
});
