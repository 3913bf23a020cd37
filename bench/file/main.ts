/**
 * file suite: regular-file I/O on the ring (read, statx, openat/close,
 * write + fdatasync) against Node's fs (promises, callbacks, sync, streams)
 * and fio's io_uring engine on the same file and the same CPU.
 * See bench/README.md for what each case measures.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { copyFile, File, Ring, writeFile } from '../../src/index.js';
import { copyFileStrategy } from '../../src/fs/whole-file.js';
import { ioWorkerCount as ioWorkers } from '../fs-compat/probe.js';
import { buildDir } from '../lib/cbuild.js';
import { startSuite } from '../lib/suite.js';
import {
  calibrate, Case, emit, interleave, nowNs, progress, sampler, type BenchOptions, type Sampler,
} from '../lib/report.js';
import { countEnters } from '../lib/enters.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const FILE_SIZE = GiB;
const BLOCK = 4 * KiB;
const QD = 32;
const SEQ_CHUNK = MiB;
const SEQ_INFLIGHT = 4;
const WRITE_FILE_SIZE = MiB;
const US = 1000; // ns per µs: the per-op cases are reported in µs/op

// ---- data files ----------------------------------------------------------------

/** The 1 GiB read file: made once (random data, fsynced), reused while it has the right size. */
function ensureReadFile(file: string, notes: string[]): void {
  let size = -1;
  try {
    size = fs.statSync(file).size;
  } catch {
    /* absent */
  }
  if (size === FILE_SIZE) {
    notes.push(`read file ${file}: 1 GiB, reused from an earlier run`);
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const t0 = nowNs();
  const chunk = randomBytes(MiB);
  const fd = fs.openSync(tmp, 'w');
  try {
    for (let i = 0; i < FILE_SIZE / MiB; i++) {
      chunk.writeUInt32LE(i, 0); // no two MiB alike
      let done = 0;
      while (done < MiB) done += fs.writeSync(fd, chunk, done, MiB - done, i * MiB + done);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const s = (nowNs() - t0) / 1e9;
  progress(`created ${file} (1 GiB) in ${s.toFixed(1)} s`);
  notes.push(`read file ${file}: 1 GiB of random data, created (and fsynced) in this run in ${s.toFixed(1)} s`);
}

/** Reads the whole file once so that every read case hits the page cache. Returns MiB/s of that pass. */
function warmPageCache(file: string): number {
  const buf = Buffer.allocUnsafe(MiB);
  const fd = fs.openSync(file, 'r');
  const t0 = nowNs();
  try {
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, MiB, pos);
      if (n === 0) break;
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return FILE_SIZE / MiB / ((nowNs() - t0) / 1e9);
}

/** A sampler of MiB/s for `run` producing `size` bytes into `output`, which is removed (untimed) before each call. */
function mibPerSecond(size: number, output: string, run: () => Promise<void>): Sampler {
  return async () => {
    fs.rmSync(output, { force: true });
    const t0 = nowNs();
    await run();
    return size / MiB / ((nowNs() - t0) / 1e9);
  };
}

/** Reads a file once so that it is in the page cache. */
function warmPageCacheOf(file: string): void {
  const buf = Buffer.allocUnsafe(MiB);
  const fd = fs.openSync(file, 'r');
  try {
    while (fs.readSync(fd, buf, 0, MiB, null) > 0) { /* to the end */ }
  } finally {
    fs.closeSync(fd);
  }
}

/** The write4k-datasync target: 1 MiB of data on the real disk, fsynced. */
function ensureWriteFile(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, randomBytes(WRITE_FILE_SIZE), 0, WRITE_FILE_SIZE, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** "ext4 /dev/vda" for the filesystem holding `dir` (findmnt), else stat -f's type name. */
function fsType(dir: string): string {
  const r = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '--target', dir], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim().split('\n')[0]!.trim().split(/\s+/).join(' on ');
  const t = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return t.status === 0 ? t.stdout.trim() : 'unknown';
}

/** Fraction of `file` in the page cache (util-linux fincore), or undefined without fincore. */
function residency(file: string): number | undefined {
  const r = spawnSync('fincore', ['-n', '-b', '-o', 'RES,SIZE', file], { encoding: 'utf8' });
  const m = /^\s*(\d+)\s+(\d+)/.exec(r.stdout ?? '');
  return r.status === 0 && m ? Number(m[1]) / Math.max(1, Number(m[2])) : undefined;
}

const pct = (x: number | undefined): string => (x === undefined ? 'unknown (no fincore)' : `${(x * 100).toFixed(2)}%`);

/** The same random 4 KiB-aligned offsets for every subject (xorshift32, fixed seed). */
function randomOffsets(count: number): Float64Array {
  const out = new Float64Array(count);
  let x = 0x2545f491;
  const blocks = FILE_SIZE / BLOCK;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) % blocks) * BLOCK;
  }
  return out;
}
const OFFS = randomOffsets(1 << 16);
const MASK = OFFS.length - 1;

// ---- random 4 KiB reads: run(n) performs n reads ------------------------------------

/** The uringkit QD1 subject: `await file.read(buf, { position })` on a File opened with the defaults. */
function ukQd1(f: File) {
  const buf = Buffer.alloc(BLOCK);
  let k = 0;
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      if ((await f.read(buf, { position: OFFS[k++ & MASK]! })) !== BLOCK) throw new Error('short read');
    }
  };
}

/** The same loop on the raw ring: `await ring.read(fd, buf, { position })` on a plain fd. */
function ringQd1(ring: Ring, fd: number) {
  const buf = Buffer.alloc(BLOCK);
  let k = 0;
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      if ((await ring.read(fd, buf, { position: OFFS[k++ & MASK]! })) !== BLOCK) throw new Error('short read');
    }
  };
}

function fspQd1(fh: fsp.FileHandle) {
  const buf = Buffer.alloc(BLOCK);
  let k = 0;
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      if ((await fh.read(buf, 0, BLOCK, OFFS[k++ & MASK]!)).bytesRead !== BLOCK) throw new Error('short read');
    }
  };
}

function fsCallbackQd1(fd: number) {
  const buf = Buffer.alloc(BLOCK);
  let k = 0;
  return (n: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let left = n;
      const cb = (err: Error | null, bytes: number): void => {
        if (err) return reject(err);
        if (bytes !== BLOCK) return reject(new Error('short read'));
        if (--left === 0) resolve();
        else fs.read(fd, buf, 0, BLOCK, OFFS[k++ & MASK]!, cb);
      };
      fs.read(fd, buf, 0, BLOCK, OFFS[k++ & MASK]!, cb);
    });
}

function fsSyncQd1(fd: number) {
  const buf = Buffer.alloc(BLOCK);
  let k = 0;
  return (n: number): void => {
    for (let i = 0; i < n; i++) {
      if (fs.readSync(fd, buf, 0, BLOCK, OFFS[k++ & MASK]!) !== BLOCK) throw new Error('short read');
    }
  };
}

/** 32 concurrent loops, each awaiting its own read: 32 reads in flight. */
function concurrentLoops(read: (buf: Buffer, pos: number) => Promise<number>) {
  const bufs = Array.from({ length: QD }, () => Buffer.alloc(BLOCK));
  let k = 0;
  return async (n: number): Promise<void> => {
    let issued = 0;
    const loop = async (buf: Buffer): Promise<void> => {
      while (issued < n) {
        issued++;
        if ((await read(buf, OFFS[k++ & MASK]!)) !== BLOCK) throw new Error('short read');
      }
    };
    await Promise.all(bufs.map(loop));
  };
}

/** 32 concurrent callback chains: each completion issues that chain's next read. */
function callbackChains(read: (buf: Buffer, pos: number, cb: (err: Error | null, n?: number) => void) => void) {
  const bufs = Array.from({ length: QD }, () => Buffer.alloc(BLOCK));
  let k = 0;
  return (n: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let issued = 0;
      let done = 0;
      let failed = false;
      const chain = (buf: Buffer): void => {
        const cb = (err: Error | null, bytes?: number): void => {
          if (failed) return;
          if (err || bytes !== BLOCK) {
            failed = true;
            return reject(err ?? new Error('short read'));
          }
          if (++done === n) return resolve();
          if (issued < n) {
            issued++;
            read(buf, OFFS[k++ & MASK]!, cb);
          }
        };
        issued++;
        read(buf, OFFS[k++ & MASK]!, cb);
      };
      for (let i = 0; i < Math.min(QD, n); i++) chain(bufs[i]!);
    });
}

// ---- sequential 1 MiB reads: run(n) reads the whole file n times ---------------------------

function ukSeq(f: File) {
  const bufs = Array.from({ length: SEQ_INFLIGHT }, () => Buffer.allocUnsafe(SEQ_CHUNK));
  const chunks = FILE_SIZE / SEQ_CHUNK;
  return async (n: number): Promise<void> => {
    for (let pass = 0; pass < n; pass++) {
      let next = 0;
      let total = 0;
      const loop = async (buf: Buffer): Promise<void> => {
        while (next < chunks) {
          const pos = next++ * SEQ_CHUNK;
          const got = await f.readAll(buf, { position: pos });
          total += got; // not `total += await …`: that reads `total` before the await
        }
      };
      await Promise.all(bufs.map(loop));
      if (total !== FILE_SIZE) throw new Error(`read ${total} bytes, expected ${FILE_SIZE}`);
    }
  };
}

function readStream(file: string) {
  return async (n: number): Promise<void> => {
    for (let pass = 0; pass < n; pass++) {
      const total = await new Promise<number>((resolve, reject) => {
        let t = 0;
        fs.createReadStream(file, { highWaterMark: SEQ_CHUNK })
          .on('data', (c) => (t += c.length))
          .on('end', () => resolve(t))
          .on('error', reject);
      });
      if (total !== FILE_SIZE) throw new Error(`read ${total} bytes, expected ${FILE_SIZE}`);
    }
  };
}

// ---- fio -------------------------------------------------------------------------------

interface FioResult { iops: number; bwBytes: number; clatMeanNs: number }
type FioPeer = { sampler: Sampler; last: () => FioResult; cmd: string } | string;

/**
 * fio's io_uring engine on the same file, as a sampler (one fio process per
 * repeat, time_based). `figure` turns its JSON into the case's unit.
 * Returns the reason when fio cannot run (probed once).
 */
function fioPeer(file: string, job: string[], runtimeMs: number, cpu: string | undefined,
  figure: (r: FioResult) => number): FioPeer {
  const args = [
    '--name=uringkit-bench', `--filename=${file}`, '--ioengine=io_uring', '--direct=0', '--invalidate=0',
    '--readonly', '--size=1g', '--time_based', `--runtime=${Math.round(runtimeMs)}ms`, '--ramp_time=100ms',
    '--output-format=json', ...job,
  ];
  if (cpu !== undefined) args.push(`--cpus_allowed=${cpu}`);
  let last: FioResult = { iops: NaN, bwBytes: NaN, clatMeanNs: NaN };
  const run = (): number => {
    const r = spawnSync('fio', args, { encoding: 'utf8', maxBuffer: 64 * MiB });
    if (r.error !== undefined) {
      throw new Error((r.error as NodeJS.ErrnoException).code === 'ENOENT'
        ? "fio not found on PATH (Debian/Ubuntu: apt-get install -y fio)"
        : `running fio failed: ${r.error.message}`);
    }
    const out = r.stdout ?? '';
    const brace = out.indexOf('{');
    if (r.status !== 0 || brace < 0) {
      throw new Error(`fio exited ${r.status}: ${(r.stderr || out).trim().slice(0, 500)}`);
    }
    const j = JSON.parse(out.slice(brace)) as {
      jobs: { error: number; read: { iops: number; bw_bytes: number; clat_ns: { mean: number } } }[];
    };
    const rd = j.jobs[0]?.read;
    if (!rd || j.jobs[0]!.error !== 0 || !(rd.iops > 0)) {
      throw new Error(`fio reported no reads (error ${j.jobs[0]?.error}): ${(r.stderr || '').trim().slice(0, 300)}`);
    }
    last = { iops: rd.iops, bwBytes: rd.bw_bytes, clatMeanNs: rd.clat_ns.mean };
    return figure(last);
  };
  try {
    run(); // probe: a missing fio or engine is a missing peer, not a crash
  } catch (e) {
    return (e as Error).message;
  }
  return { sampler: run, last: () => last, cmd: `fio ${args.filter((a) => !a.startsWith('--filename')).join(' ')}` };
}

function addFio(c: Case, peer: FioPeer, samples: Record<string, number[]>, key: string, describe: (r: FioResult) => string): Case {
  if (typeof peer === 'string') return c.missingPeer('fio', peer);
  return c.peer('fio', samples[key]!, `${peer.cmd}; ${describe(peer.last())}`);
}

// ---- sampler plumbing ----------------------------------------------------------------------


/** As sampler(), for run(n) = n whole-file passes; the sampler returns MiB/s. */
async function passSampler(label: string, run: (n: number) => Promise<void>, o: BenchOptions): Promise<Sampler> {
  const n = Math.max(1, await calibrate(run, o.repeatMs, 1));
  progress(`${label}: ${n} x 1 GiB per repeat`);
  return async () => {
    const t0 = nowNs();
    await run(n);
    return (n * FILE_SIZE) / MiB / ((nowNs() - t0) / 1e9);
  };
}


const entersInfo = (x: { perOp: () => number }): string => `io_uring_enter per op: ${x.perOp().toFixed(4)}`;

// ---- the suite -------------------------------------------------------------------------------

/**
 * UK_BENCH_FILE_CASES=a,b runs only the case groups named (the progress
 * labels: read4k-qd1-await, read4k-qd1-await-fixed, read4k-qd32, seqread-1m,
 * stat, open-close, write4k-datasync, write-64k, writefile-200m,
 * copyfile-200m); unset: all of them.
 */
function selected(name: string): boolean {
  const only = process.env['UK_BENCH_FILE_CASES'];
  return only === undefined || only === '' || only.split(',').map((x) => x.trim()).includes(name);
}

export async function main(argv: string[]): Promise<void> {
  const { o, env, cases, notes } = startSuite('file', argv);
  const fioCpu = env.pinned ? env.cpusAllowed : undefined;
  // fio runs one process per repeat: ~5 x repeat-ms, 1-3 s (2 s at the default 400 ms).
  const fioMs = Math.min(3000, Math.max(1000, 5 * o.repeatMs));

  // Both files on the real disk (bench/.build/file-bench/, or UK_BENCH_FILE_DIR for the read file).
  // Not tmpfs: on tmpfs an io_uring buffered read does not complete inline (it goes to io-wq).
  const wdir = path.join(buildDir, 'file-bench');
  const rdir = process.env['UK_BENCH_FILE_DIR'] || wdir;
  const file = path.join(rdir, 'uringkit-bench-read-1g.bin');
  const wfile = path.join(wdir, 'write-1m.bin');
  ensureReadFile(file, notes);
  ensureWriteFile(wfile);
  const rfs = fsType(rdir);
  const wfs = fsType(wdir);
  const warm = warmPageCache(file);
  const res0 = residency(file);
  progress(`page cache warmed: ${warm.toFixed(0)} MiB/s, resident ${pct(res0)}`);
  // The page cache of this machine can be shrunk from outside (balloon): every measured
  // repeat of a read case is preceded by an untimed re-read of the whole file, and the
  // residency is checked after it (fincore); the lowest one seen is reported.
  const resident: string[] = [];
  let minRes: number | undefined;
  const checkResidency = (label: string): void => {
    resident.push(`${label}: lowest after a repeat ${pct(minRes)}`);
    minRes = undefined;
  };
  const rewarm = (s: Sampler): Sampler => async () => {
    warmPageCache(file);
    const v = await s();
    const r = residency(file);
    if (r !== undefined) minRes = Math.min(minRes ?? 1, r);
    return v;
  };
  const rewarmAll = (ss: Record<string, Sampler>): Record<string, Sampler> =>
    Object.fromEntries(Object.entries(ss).map(([k, v]) => [k, rewarm(v)]));

  const ring = Ring.current();
  notes.push(`uringkit ring flags: ${ring.info.flags.join('|') || '(none)'}`);
  notes.push(`libuv thread pool: UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '(unset: 4 threads)'}`);
  const fd = await ring.open(file, 'r');
  const fh = await fsp.open(file, 'r');
  const nfd = fs.openSync(file, 'r');

  const fioRand = (qd: number): FioPeer =>
    fioPeer(file, ['--rw=randread', '--bs=4k', `--iodepth=${qd}`, '--norandommap', '--randrepeat=0'], fioMs, fioCpu,
      (r) => 1e9 / r.iops / US);
  const fioRandNote = (r: FioResult): string =>
    `µs/op = 1 / IOPS (last run: ${r.iops.toFixed(0)} IOPS, mean completion latency ${(r.clatMeanNs / US).toFixed(2)} µs)`;

  // -- read4k-qd1-await --------------------------------------------------------------------
  if (selected('read4k-qd1-await')) {
    progress('read4k-qd1-await');
    warmPageCache(file);
    const fio = fioRand(1);
    const qf = await File.open(file, 'r');
    const uk = countEnters(ring, await sampler('uringkit', ukQd1(qf), o, { scale: US }));
    const subjects: Record<string, Sampler> = {
      uk: uk.sampler,
      raw: await sampler('ring-read', ringQd1(ring, fd), o, { scale: US }),
      fsp: await sampler('fs-promises', fspQd1(fh), o, { scale: US }),
      cb: await sampler('fs-callback', fsCallbackQd1(nfd), o, { scale: US }),
      sync: await sampler('fs-sync', fsSyncQd1(nfd), o, { scale: US }),
    };
    if (typeof fio !== 'string') subjects['fio'] = fio.sampler;
    const s = await interleave(rewarmAll(subjects), o);
    const c = new Case('read4k-qd1-await', 'µs/op').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'FileHandle.read(buf, 0, 4096, pos), sequential await')
      .peer('fs-callback', s['cb']!, 'fs.read(fd, buf, 0, 4096, pos, cb), one callback chain')
      .peer('fs-sync', s['sync']!, 'fs.readSync(fd, buf, 0, 4096, pos) loop (blocks the event loop)')
      .peer('ring-read', s['raw']!, 'await ring.read(fd, buf, { position }) on a plain (unregistered) fd');
    addFio(c, fio, s, 'fio', fioRandNote).target('fs-promises', 15).target('fio', 0.8);
    const r = c.build();
    r.info = `await file.read(buf, { position }) on File.open(path, 'r') (registered fd: ${qf.registered}); ${entersInfo(uk)}`;
    cases.push(r);
    await qf.close();
    checkResidency('read4k-qd1');
  }

  // -- read4k-qd1-await-portable: the same subject forced onto the portable backend -----------
  {
    progress('read4k-qd1-await-portable');
    warmPageCache(file);
    const pring = new Ring({ backend: 'portable' });
    const qf = await File.open(file, 'r', 0o666, { ring: pring });
    const s = await interleave(rewarmAll({
      uk: await sampler('uringkit-portable', ukQd1(qf), o, { scale: US }),
      fsp: await sampler('fs-promises', fspQd1(fh), o, { scale: US }),
    }), o);
    const r = new Case('read4k-qd1-await-portable', 'µs/op').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'FileHandle.read(buf, 0, 4096, pos), sequential await')
      .target('fs-promises', 0.9).build();
    r.info = `await file.read(buf, { position }) on a File of a Ring({ backend: 'portable' }) (node:fs callbacks underneath)`;
    cases.push(r);
    await qf.close();
    await pring.close();
  }

  // -- read4k-qd1-await-fixed: a registered File and a registered pool buffer ----------------
  if (selected('read4k-qd1-await-fixed')) {
    progress('read4k-qd1-await-fixed');
    warmPageCache(file);
    const fio = fioRand(1);
    const f = await File.open(file, 'r', 0o666, { register: true });
    const pool = ring.bufferPool ?? ring.registerBuffers({ count: 1, size: BLOCK });
    const pbuf = pool.acquire();
    if (pbuf === undefined) throw new Error('the ring buffer pool has no free buffer');
    const before = pool.stats().fixedReads;
    let k = 0;
    const fixedRun = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        if ((await f.read(pbuf, { length: BLOCK, position: OFFS[k++ & MASK]! })) !== BLOCK) throw new Error('short read');
      }
    };
    const uk = countEnters(ring, await sampler('uringkit fixed', fixedRun, o, { scale: US }));
    const subjects: Record<string, Sampler> = {
      uk: uk.sampler,
      plain: await sampler('uringkit plain', ringQd1(ring, fd), o, { scale: US }),
      fsp: await sampler('fs-promises', fspQd1(fh), o, { scale: US }),
    };
    if (typeof fio !== 'string') subjects['fio'] = fio.sampler;
    const s = await interleave(rewarmAll(subjects), o);
    const fixedReads = pool.stats().fixedReads - before;
    pool.release(pbuf);
    const registered = f.registered && pool.registered;
    await f.close();
    const c = new Case('read4k-qd1-await-fixed', 'µs/op').uringkit(s['uk']!)
      .peer('uringkit-plain', s['plain']!, 'the read4k-qd1-await subject: await ring.read(fd, Buffer.alloc(4096), { position })')
      .peer('fs-promises', s['fsp']!, 'FileHandle.read(buf, 0, 4096, pos), sequential await');
    addFio(c, fio, s, 'fio', fioRandNote).target('fs-promises', 15).target('fio', 0.8);
    const r = c.build();
    r.info = `await file.read(poolBuffer, { position }) on a File opened with register: true (IOSQE_FIXED_FILE) ` +
      `and a buffer from ring.registerBuffers() (READ_FIXED); registered: ${registered}, ` +
      `fixed reads issued: ${fixedReads}; ${entersInfo(uk)}`;
    cases.push(r);
    checkResidency('read4k-qd1-fixed');
  }

  // -- read4k-qd32-await / read4k-qd32-callback --------------------------------------------------
  if (selected('read4k-qd32')) {
    progress('read4k-qd32');
    warmPageCache(file);
    const fio = fioRand(QD);
    const aw = countEnters(ring, await sampler('uringkit await',
      concurrentLoops((buf, pos) => ring.read(fd, buf, { position: pos })), o, { multiple: QD, scale: US }));
    const cb = countEnters(ring, await sampler('uringkit callback',
      callbackChains((buf, pos, k) => ring.read(fd, buf, { position: pos }, k)), o, { multiple: QD, scale: US }));
    const subjects: Record<string, Sampler> = {
      aw: aw.sampler,
      cb: cb.sampler,
      fsp: await sampler('fs-promises x32',
        concurrentLoops(async (buf, pos) => (await fh.read(buf, 0, BLOCK, pos)).bytesRead), o, { multiple: QD, scale: US }),
      fscb: await sampler('fs-callback x32',
        callbackChains((buf, pos, k) => fs.read(nfd, buf, 0, BLOCK, pos, k)), o, { multiple: QD, scale: US }),
    };
    if (typeof fio !== 'string') subjects['fio'] = fio.sampler;
    const s = await interleave(rewarmAll(subjects), o);
    const pool = `libuv thread pool runs ${process.env['UV_THREADPOOL_SIZE'] ?? 4} of them at a time`;
    const c1 = new Case('read4k-qd32-await', 'µs/op').uringkit(s['aw']!)
      .peer('fs-promises', s['fsp']!, `32 concurrent loops each awaiting FileHandle.read (${pool})`);
    addFio(c1, fio, s, 'fio', fioRandNote).target('fs-promises', 4).target('fio', 0.8);
    const c2 = new Case('read4k-qd32-callback', 'µs/op').uringkit(s['cb']!)
      .peer('fs-callback', s['fscb']!, `32 concurrent fs.read callback chains (${pool})`);
    addFio(c2, fio, s, 'fio', fioRandNote);
    const r1 = c1.build();
    const r2 = c2.build();
    r1.info = entersInfo(aw);
    r2.info = entersInfo(cb);
    cases.push(r1, r2);
    checkResidency('read4k-qd32');
  }

  // -- seqread-1m ---------------------------------------------------------------------------
  if (selected('seqread-1m')) {
    progress('seqread-1m');
    warmPageCache(file);
    const fio = fioPeer(file, ['--rw=read', '--bs=1m', `--iodepth=${SEQ_INFLIGHT}`], fioMs, fioCpu,
      (r) => r.bwBytes / MiB);
    const f = await File.open(file, 'r');
    const uk = countEnters(ring, await passSampler('uringkit', ukSeq(f), o));
    const subjects: Record<string, Sampler> = {
      uk: uk.sampler,
      rs: await passSampler('read-stream', readStream(file), o),
    };
    if (typeof fio !== 'string') subjects['fio'] = fio.sampler;
    const s = await interleave(rewarmAll(subjects), o);
    await f.close();
    const c = new Case('seqread-1m', 'MiB/s').uringkit(s['uk']!)
      .peer('read-stream', s['rs']!, 'fs.createReadStream(path, { highWaterMark: 1 MiB }), data events consumed to the end');
    addFio(c, fio, s, 'fio', (r) => `MiB/s = bw_bytes (last run: ${(r.bwBytes / MiB).toFixed(0)} MiB/s)`)
      .target('read-stream', 1.5);
    const r = c.build();
    r.info = `File.readAll of 1 MiB chunks, ${SEQ_INFLIGHT} in flight, whole file per pass; ${entersInfo(uk)}`;
    cases.push(r);
    checkResidency('seqread-1m');
    notes.push(`read file ${file} on ${rfs}${rfs.startsWith('tmpfs') ? ' (tmpfs: io_uring reads are not served inline there)' : ''}; ` +
      `read fully once before measuring (${warm.toFixed(0)} MiB/s; then ${pct(res0)} resident) and again, untimed, ` +
      `at the start of each read case and before each repeat (warm-up included) of every read subject; page cache residency ${resident.join(', ')}`);
  }

  // -- stat -----------------------------------------------------------------------------------
  if (selected('stat')) {
    progress('stat');
    const uk = countEnters(ring, await sampler('uringkit', async (n) => {
      for (let i = 0; i < n; i++) await ring.statx(wfile);
    }, o, { scale: US }));
    const s = await interleave({
      uk: uk.sampler,
      fsp: await sampler('fs-promises', async (n) => {
        for (let i = 0; i < n; i++) await fsp.stat(wfile);
      }, o, { scale: US }),
    }, o);
    const r = new Case('stat', 'µs/op').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'await fsp.stat(path), sequential')
      .target('fs-promises', 10).build();
    r.info = `await ring.statx(path), sequential, path on ${wfs}; ${entersInfo(uk)}`;
    cases.push(r);
  }

  // -- open-close -------------------------------------------------------------------------------
  if (selected('open-close')) {
    progress('open-close');
    const uk = countEnters(ring, await sampler('uringkit', async (n) => {
      for (let i = 0; i < n; i++) await ring.closeFd(await ring.open(wfile, 'r'));
    }, o, { scale: US }));
    const s = await interleave({
      uk: uk.sampler,
      fsp: await sampler('fs-promises', async (n) => {
        for (let i = 0; i < n; i++) await (await fsp.open(wfile, 'r')).close();
      }, o, { scale: US }),
    }, o);
    const r = new Case('open-close', 'µs/op').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'await (await fsp.open(path, "r")).close(), sequential')
      .target('fs-promises', 5).build();
    r.info = `await ring.closeFd(await ring.open(path, 'r')); one op = open + close, path on ${wfs}; ${entersInfo(uk)}`;
    cases.push(r);
  }

  // -- open-close-portable: the same loop on a ring forced onto the portable backend ------------
  {
    progress('open-close-portable');
    const pring = new Ring({ backend: 'portable' });
    const s = await interleave({
      uk: await sampler('uringkit-portable', async (n) => {
        for (let i = 0; i < n; i++) await pring.closeFd(await pring.open(wfile, 'r'));
      }, o, { scale: US }),
      fsp: await sampler('fs-promises', async (n) => {
        for (let i = 0; i < n; i++) await (await fsp.open(wfile, 'r')).close();
      }, o, { scale: US }),
    }, o);
    const r = new Case('open-close-portable', 'µs/op').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'await (await fsp.open(path, "r")).close(), sequential')
      .target('fs-promises', 0.9).build();
    r.info = `await ring.closeFd(await ring.open(path, 'r')) on a Ring({ backend: 'portable' }), path on ${wfs}`;
    cases.push(r);
    await pring.close();
  }

  // -- write4k-datasync -----------------------------------------------------------------------------
  if (selected('write4k-datasync')) {
    progress('write4k-datasync');
    const wfd = await ring.open(wfile, 'r+');
    const wfh = await fsp.open(wfile, 'r+');
    const blocks = WRITE_FILE_SIZE / BLOCK;
    const wbuf = randomBytes(BLOCK);
    let k1 = 0;
    let k2 = 0;
    const uk = countEnters(ring, await sampler('uringkit', async (n) => {
      for (let i = 0; i < n; i++) {
        await ring.write(wfd, wbuf, { position: (k1++ % blocks) * BLOCK });
        await ring.fdatasync(wfd);
      }
    }, o, { scale: US }));
    const s = await interleave({
      uk: uk.sampler,
      fsp: await sampler('fs-promises', async (n) => {
        for (let i = 0; i < n; i++) {
          await wfh.write(wbuf, 0, BLOCK, (k2++ % blocks) * BLOCK);
          await wfh.datasync();
        }
      }, o, { scale: US }),
    }, o);
    await ring.closeFd(wfd);
    await wfh.close();
    const r = new Case('write4k-datasync', 'µs/op').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'await fh.write(buf, 0, 4096, pos); await fh.datasync(), sequential')
      .build();
    r.info = `await ring.write(fd, 4 KiB, { position }); await ring.fdatasync(fd), cycling over a 1 MiB file ` +
      `on ${wfs} (real disk); one op = write + fdatasync; ${entersInfo(uk)}`;
    cases.push(r);
  }

  // -- write-64k -------------------------------------------------------------------------------------
  if (selected('write-64k')) {
    progress('write-64k');
    const target = path.join(wdir, 'write-64k.bin');
    const span = 64 * MiB; // writes cycle over 64 MiB of one file (page cache; written back in the background)
    const chunk = 64 * KiB;
    const slots = span / chunk;
    const data = randomBytes(chunk);
    fs.writeFileSync(target, Buffer.alloc(0));
    const f = await File.open(target, 'r+');
    const wfh = await fsp.open(target, 'r+');
    let k1 = 0;
    let k2 = 0;
    const w0 = ioWorkers();
    const uk = countEnters(ring, await sampler('uringkit', async (n) => {
      for (let i = 0; i < n; i++) await f.writeAll(data, { position: (k1++ % slots) * chunk });
    }, o, { scale: US }));
    const s = await interleave({
      uk: uk.sampler,
      fsp: await sampler('fs-promises', async (n) => {
        for (let i = 0; i < n; i++) await wfh.write(data, 0, chunk, (k2++ % slots) * chunk);
      }, o, { scale: US }),
    }, o);
    const workers = Math.max(w0, ioWorkers());
    await f.close();
    await wfh.close();
    fs.rmSync(target, { force: true });
    const r = new Case('write-64k', 'µs/op').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'await fh.write(buf, 0, 65536, pos), sequential')
      .target('fs-promises', 1.3).build();
    r.info = `await file.writeAll(64 KiB, { position }), sequential, cycling over 64 MiB of a file on ${wfs} ` +
      `(buffered: page cache); io-wq workers of this process seen: ${workers} (when > 0 the kernel could not ` +
      `complete these buffered writes without blocking and ran them on its io-wq threads: one thread hop per write, ` +
      `as fs-promises has with the libuv pool; the two then differ by the JavaScript around the write); ${entersInfo(uk)}`;
    cases.push(r);
  }

  // -- writefile-200m ------------------------------------------------------------------------------------
  if (selected('writefile-200m')) {
    progress('writefile-200m');
    const target = path.join(wdir, 'writefile-200m.bin');
    const size = 200 * MiB;
    const data = randomBytes(size);
    const w0 = ioWorkers();
    const sample = (run: () => Promise<void>): Sampler => mibPerSecond(size, target, run);
    const s = await interleave({
      uk: sample(() => writeFile(target, data)),
      fsp: sample(() => fsp.writeFile(target, data)),
    }, o);
    const workers = Math.max(w0, ioWorkers());
    fs.rmSync(target, { force: true });
    const r = new Case('writefile-200m', 'MiB/s').uringkit(s['uk']!)
      .peer('fs-promises', s['fsp']!, 'await fsp.writeFile(path, 200 MiB Buffer) (node writes 512 KiB pieces, one thread-pool hop each)')
      .target('fs-promises', 1.3).build();
    r.info = `await writeFile(path, 200 MiB Buffer) on ${wfs}: one open, write(s) of up to 2 GiB - 4 KiB each, close; ` +
      `the file is removed (untimed) before each repeat; io-wq workers of this process seen: ${workers}`;
    cases.push(r);
  }

  // -- copyfile-200m -------------------------------------------------------------------------------------
  if (selected('copyfile-200m')) {
    progress('copyfile-200m');
    const src = path.join(wdir, 'copy-src-200m.bin');
    const dst = path.join(wdir, 'copy-dst-200m.bin');
    const size = 200 * MiB;
    fs.writeFileSync(src, randomBytes(size));
    warmPageCacheOf(src);
    const sample = (run: () => Promise<void>): Sampler => mibPerSecond(size, dst, run);
    const s = await interleave({
      uk: sample(() => copyFile(src, dst)),
      cp: sample(() => fsp.copyFile(src, dst)),
    }, o);
    fs.rmSync(src, { force: true });
    fs.rmSync(dst, { force: true });
    const r = new Case('copyfile-200m', 'MiB/s').uringkit(s['uk']!)
      .peer('fs-copyfile', s['cp']!, 'await fs.promises.copyFile(src, dst) (libuv: copy_file_range)')
      .target('fs-copyfile', 1.0).build();
    r.info = `await copyFile(src, dst), 200 MiB, source in the page cache, destination removed (untimed) before each repeat, on ${wfs}; ` +
      copyFileStrategy;
    cases.push(r);
  }

  await ring.closeFd(fd);
  await fh.close();
  fs.closeSync(nfd);
  await ring.close();
  emit({ suite: 'file', env, options: { repeats: o.repeats, repeatMs: o.repeatMs, warmup: o.warmup }, cases, notes }, o.json);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
