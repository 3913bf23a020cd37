/**
 * fs-compat suite: application-shaped workloads written once against the
 * node:fs/promises API (workloads.ts) and run twice in the same process:
 * with `uringkit/fs` and with node:fs/promises (peer `fs-promises`).
 * Subjects are interleaved per repeat; the median is reported.
 *
 * Data lives in bench/.build/fs-compat/ (real disk, not tmpfs) and is
 * deleted at the end; read data is read once before measuring (page cache
 * warm). Sizes: 10,000 small files (1-64 KiB, ~320 MiB), a tree of 2,000
 * files, a 256 MiB read file streamed 4 times per repeat, 1 GiB written per
 * write-stream repeat (deleted after each), a 200 MiB copy source.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import nodeFsp from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import ukFs from '../../src/fs/promises/index.js';
import { buildDir } from '../lib/cbuild.js';
import { Case, emit, interleave, nowNs, progress, type Sampler } from '../lib/report.js';
import { startSuite } from '../lib/suite.js';
import { ioWorkerCount, contextSwitches } from './probe.js';
import * as W from './workloads.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
const SMALL_FILES = 10_000;
const TREE_DIRS = 40;
const TREE_FILES = 50;
const COPY_SIZE = 200 * MiB;
const LINES = 20_000;
const READ_FILE = 256 * MiB;

type Api = W.FsApi;
const APIS: Record<'uk' | 'fsp', Api> = { uk: ukFs as unknown as Api, fsp: nodeFsp };

/** UK_BENCH_FSCOMPAT_CASES=a,b runs only the cases named; unset: all. */
function selected(name: string): boolean {
  const only = process.env['UK_BENCH_FSCOMPAT_CASES'];
  return only === undefined || only === '' || only.split(',').map((x) => x.trim()).includes(name);
}

/** Fraction of `file` in the page cache (util-linux fincore), or undefined without it. */
function residency(file: string): number | undefined {
  const r = spawnSync('fincore', ['-n', '-b', '-o', 'RES,SIZE', file], { encoding: 'utf8' });
  const m = /^\s*(\d+)\s+(\d+)/.exec(r.stdout ?? '');
  return r.status === 0 && m ? Number(m[1]) / Math.max(1, Number(m[2])) : undefined;
}

/** Deterministic sizes 1..64 KiB (xorshift32). */
function sizes(n: number): number[] {
  const out: number[] = [];
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push(1024 + ((x >>> 0) % (63 * 1024 + 1)));
  }
  return out;
}

function makeSmallFiles(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const pool = randomBytes(64 * 1024);
  return sizes(SMALL_FILES).map((size, i) => {
    const p = path.join(dir, `f${i}.bin`);
    fs.writeFileSync(p, pool.subarray(0, size));
    return p;
  });
}

function makeTree(dir: string): void {
  const pool = randomBytes(16 * 1024);
  const sz = sizes(TREE_DIRS * TREE_FILES);
  for (let d = 0; d < TREE_DIRS; d++) {
    const sub = path.join(dir, `d${d}`, `e${d % 5}`);
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < TREE_FILES; f++) {
      fs.writeFileSync(path.join(sub, `f${f}.txt`), pool.subarray(0, sz[d * TREE_FILES + f]! >> 2));
    }
  }
}

function makeFile(p: string, size: number): void {
  if (fs.existsSync(p) && fs.statSync(p).size === size) return;
  const fd = fs.openSync(p, 'w');
  const chunk = randomBytes(MiB);
  try {
    for (let off = 0; off < size; off += MiB) {
      chunk.writeUInt32LE(off / MiB, 0);
      fs.writeSync(fd, chunk, 0, Math.min(MiB, size - off), off);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes back what creating the data dirtied (sync(1)), so writeback does not run during the measurement. */
function settle(): void {
  spawnSync('sync');
}

function warm(paths: string[]): void {
  const buf = Buffer.allocUnsafe(MiB);
  for (const p of paths) {
    const fd = fs.openSync(p, 'r');
    try {
      while (fs.readSync(fd, buf, 0, MiB, null) > 0) { /* read to the end */ }
    } finally {
      fs.closeSync(fd);
    }
  }
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** A sampler timing one call of `run` per repeat; returns `per` ÷ seconds (rate) or ms ÷ `per` (cost). */
function timed(run: () => Promise<void>, per: number, rate: boolean, before?: () => void): Sampler {
  return async () => {
    before?.();
    const t0 = nowNs();
    await run();
    const s = (nowNs() - t0) / 1e9;
    return rate ? per / s : (s * 1e6) / per;
  };
}

export async function main(argv: string[]): Promise<void> {
  const { o, env, cases, notes } = startSuite('fs-compat', argv, { repeats: 5, warmup: 1 });
  const root = path.join(buildDir, 'fs-compat');
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  notes.push('both subjects run the same workload functions (bench/fs-compat/workloads.ts) with a different fs object; ' +
    'interleaved per repeat; data on the real disk under bench/.build/fs-compat (deleted at the end)');
  try {
    // -- readfile-small ------------------------------------------------------------------
    if (selected('readfile-small')) {
      progress('readfile-small: creating 10,000 files of 1-64 KiB');
      const files = makeSmallFiles(path.join(root, 'small'));
      settle();
      warm(files);
      const bytes = files.reduce((s, f) => s + fs.statSync(f).size, 0);
      const s = await interleave({
        uk: timed(() => W.readFileSmall(APIS.uk, files, bytes), files.length, false),
        fsp: timed(() => W.readFileSmall(APIS.fsp, files, bytes), files.length, false),
      }, o);
      const c = new Case('readfile-small', 'µs/file').uringkit(s['uk']!)
        .peer('fs-promises', s['fsp']!, 'await fs.readFile(path) of each file in turn, node:fs/promises').target('fs-promises', 3).build();
      c.info = `sequential await fs.readFile(path) over ${files.length} files (${(bytes / MiB).toFixed(0)} MiB), page cache warm`;
      cases.push(c);
      fs.rmSync(path.join(root, 'small'), { recursive: true, force: true });
    }

    // -- stat-readfile-tree --------------------------------------------------------------------
    if (selected('stat-readfile-tree')) {
      progress('stat-readfile-tree');
      const tree = path.join(root, 'tree');
      makeTree(tree);
      settle();
      warm(walk(tree));
      const n = TREE_DIRS * TREE_FILES;
      const s = await interleave({
        uk: timed(() => W.statReadTree(APIS.uk, tree, n), n, false),
        fsp: timed(() => W.statReadTree(APIS.fsp, tree, n), n, false),
      }, o);
      const c = new Case('stat-readfile-tree', 'µs/file').uringkit(s['uk']!)
        .peer('fs-promises', s['fsp']!, 'readdir (withFileTypes) + stat + readFile per file, node:fs/promises')
        .target('fs-promises', 1).build();
      c.info = `walk of ${TREE_DIRS * 5 / 5} dirs x ${TREE_FILES} files: readdir (delegated to node:fs in uringkit/fs) ` +
        '+ stat + readFile (ring) per file';
      cases.push(c);
      fs.rmSync(tree, { recursive: true, force: true });
    }

    // -- read-stream-1g ---------------------------------------------------------------------------
    if (selected('read-stream-1g')) {
      progress('read-stream-1g');
      // 1 GiB streamed as READ_PASSES passes over one file: a 1 GiB file does not stay in this
      // machine's page cache (fincore showed ~40% resident right after a full read), a 256 MiB one does.
      const big = path.join(root, 'read-256m.bin');
      makeFile(big, READ_FILE);
      settle();
      warm([big]);
      const passes = GiB / READ_FILE;
      const run = (api: Api) => async (): Promise<void> => {
        for (let i = 0; i < passes; i++) await W.readStream(api, big, READ_FILE);
      };
      let lowest = 1;
      const rewarm = (): void => {
        warm([big]);
        lowest = Math.min(lowest, residency(big) ?? 1);
      };
      const s = await interleave({
        uk: timed(run(APIS.uk), GiB / MiB, true, rewarm),
        fsp: timed(run(APIS.fsp), GiB / MiB, true, rewarm),
      }, o);
      const c = new Case('read-stream-1g', 'MiB/s').uringkit(s['uk']!)
        .peer('fs-promises', s['fsp']!, '(await fs.open(p)).createReadStream() (64 KiB chunks) to a byte-counting sink')
        .target('fs-promises', 1.5).build();
      c.info = `1 GiB per repeat = ${passes} x createReadStream of a 256 MiB file, default highWaterMark (64 KiB), ` +
        `re-read (untimed) before each repeat; lowest page-cache residency after that re-read: ${(lowest * 100).toFixed(1)}%`;
      cases.push(c);
      fs.rmSync(big, { force: true });
    }

    // -- write-stream-1g --------------------------------------------------------------------------
    if (selected('write-stream-1g')) {
      progress('write-stream-1g');
      const out = path.join(root, 'write-1g.bin');
      const probes: Record<string, string> = {};
      const sample = (key: 'uk' | 'fsp'): Sampler => async () => {
        const w0 = ioWorkerCount();
        const cs0 = contextSwitches();
        const t0 = nowNs();
        const peak = await W.writeStream(APIS[key], out, GiB, ioWorkerCount);
        const sec = (nowNs() - t0) / 1e9;
        const cs1 = contextSwitches();
        probes[key] = `io-wq workers seen: ${Math.max(peak, w0)}; context switches: ${cs1.voluntary - cs0.voluntary} voluntary, ` +
          `${cs1.involuntary - cs0.involuntary} involuntary`;
        fs.rmSync(out, { force: true });
        return GiB / MiB / sec;
      };
      const s = await interleave({ uk: sample('uk'), fsp: sample('fsp') }, { repeats: Math.min(o.repeats, 3), warmup: 1 });
      const c = new Case('write-stream-1g', 'MiB/s').uringkit(s['uk']!)
        .peer('fs-promises', s['fsp']!, '(await fs.open(p, "w")).createWriteStream(), 1 GiB in 64 KiB writes with backpressure, then close')
        .target('fs-promises', 1.5).build();
      c.info = `3 repeats (1 GiB each, deleted after each); last repeat: uringkit ${probes['uk']}; fs-promises ${probes['fsp']}`;
      cases.push(c);
    }

    // -- append-lines -----------------------------------------------------------------------------
    if (selected('append-lines')) {
      progress('append-lines');
      const log = path.join(root, 'app.log');
      const s = await interleave({
        uk: timed(() => W.appendLines(APIS.uk, log, LINES), LINES, false, () => fs.rmSync(log, { force: true })),
        fsp: timed(() => W.appendLines(APIS.fsp, log, LINES), LINES, false, () => fs.rmSync(log, { force: true })),
      }, o);
      const c = new Case('append-lines', 'µs/line').uringkit(s['uk']!)
        .peer('fs-promises', s['fsp']!, 'await fs.appendFile(log, line) per line').target('fs-promises', 1).build();
      c.info = `${LINES} lines of ~70 bytes, one appendFile (open O_APPEND + write + close) each`;
      cases.push(c);
      fs.rmSync(log, { force: true });
    }

    // -- copyfile-200m ----------------------------------------------------------------------------
    if (selected('copyfile-200m')) {
      progress('copyfile-200m');
      const src = path.join(root, 'copy-src.bin');
      const dst = path.join(root, 'copy-dst.bin');
      makeFile(src, COPY_SIZE);
      settle();
      warm([src]);
      const s = await interleave({
        uk: timed(() => W.copy(APIS.uk, src, dst), COPY_SIZE / MiB, true, () => fs.rmSync(dst, { force: true })),
        fsp: timed(() => W.copy(APIS.fsp, src, dst), COPY_SIZE / MiB, true, () => fs.rmSync(dst, { force: true })),
      }, o);
      const c = new Case('copyfile-200m', 'MiB/s').uringkit(s['uk']!)
        .peer('fs-promises', s['fsp']!, 'await fs.copyFile(src, dst), 200 MiB').target('fs-promises', 1).build();
      c.info = 'uringkit/fs.copyFile is node:fs/promises.copyFile (libuv: copy_file_range, a copy inside the kernel with ' +
        'no user-space buffer; it beat ring reads and writes at every size measured; bench/file copyfile-200m measures uringkit\'s own copyFile), ' +
        'so this ratio is ~1 by construction';
      cases.push(c);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  emit({ suite: 'fs-compat', env, options: { repeats: o.repeats, repeatMs: o.repeatMs, warmup: o.warmup }, cases, notes }, o.json);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
