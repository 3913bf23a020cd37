#!/usr/bin/env node
// Soak test: files, TCP echo over loopback, deadlines and aborts at high
// concurrency, for N minutes. Samples RSS, heap, fd count and ring stats;
// counts every operation's settlements by id (lost = issued but never
// settled, doubled = settled more than once). Exits non-zero when RSS grew
// >= 5% after warm-up (the first 20% of the run), fds leaked, or any
// operation was lost or doubled.
//
// Usage: npm run soak -- --minutes 10 [--concurrency 256] [--sample-seconds 5] [--json out.json]
// Needs the compiled library (npm run build:ts) and the native addon.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setMaxListeners } from 'node:events';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = await import(pathToFileURL(path.join(root, 'dist', 'src', 'index.js')).href);
const { Ring, Socket, TcpListener, POLL, File } = lib;

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = process.argv[i + 1];
  return typeof def === 'number' ? Number(v) : v;
}
const minutes = arg('minutes', 1);
const concurrency = arg('concurrency', 256);
const durationMs = Math.max(5_000, minutes * 60_000);
const sampleMs = arg('sample-seconds', Math.min(5, Math.max(1, durationMs / 1000 / 30))) * 1000;
const jsonOut = arg('json', undefined);
const gc = globalThis.gc;

const ring = Ring.current();
const fdCount = () => fs.readdirSync('/proc/self/fd').length;

// ---- settlement accounting -------------------------------------------------------
let nextId = 0;
const pending = new Map(); // id -> kind
const counts = { issued: 0, settled: 0, doubled: 0, ok: 0 };
const byKind = {};
const errorsByCode = {};
let unexpected = 0;
const firstUnexpected = [];

function settle(id, err) {
  if (!pending.has(id)) {
    counts.doubled++;
    return;
  }
  const kind = pending.get(id);
  pending.delete(id);
  counts.settled++;
  const k = (byKind[kind] ??= { issued: 0, ok: 0, err: 0 });
  if (err) {
    k.err++;
    const code = typeof err.code === 'string' ? err.code : `uncoded:${err.name}`;
    errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
    if (typeof err.code !== 'string') {
      unexpected++;
      if (firstUnexpected.length < 5) firstUnexpected.push(String(err.stack ?? err));
    }
  } else {
    k.ok++;
    counts.ok++;
  }
}

function begin(kind) {
  const id = nextId++;
  pending.set(id, kind);
  counts.issued++;
  (byKind[kind] ??= { issued: 0, ok: 0, err: 0 }).issued++;
  return id;
}

/** Tracks a promise-form operation; resolves with [err, value] (never rejects). */
function tracked(kind, p) {
  const id = begin(kind);
  return p.then((v) => {
    settle(id);
    return [null, v];
  }, (e) => {
    settle(id, e);
    return [e, undefined];
  });
}

/** Tracks a callback-form operation: `start(cb)` issues it; every call of cb is counted. */
function trackedCb(kind, start) {
  const id = begin(kind);
  return new Promise((resolve) => {
    let first = true;
    try {
      start((err, value) => {
        settle(id, err);
        if (first) {
          first = false;
          resolve([err, value]);
        }
      });
    } catch (e) {
      settle(id, e);
      resolve([e, undefined]);
    }
  });
}

// ---- fixtures ------------------------------------------------------------------------
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uringkit-soak-'));
const fifoPath = path.join(dir, 'fifo');
const { execFileSync } = await import('node:child_process');
execFileSync('mkfifo', [fifoPath]);
const fifoFd = fs.openSync(fifoPath, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);

const listener = TcpListener.bind({ host: '127.0.0.1', port: 0 });
const serverConns = new Set();
const acceptLoop = (async () => {
  for await (const s of listener) {
    serverConns.add(s);
    void (async () => {
      try {
        for await (const chunk of s) await s.write(chunk);
      } catch {
        // peer reset: the connection ends
      } finally {
        serverConns.delete(s);
        await s.close().catch(() => {});
      }
    })();
  }
})();

let stopping = false;
const deadline = Date.now() + durationMs;

// ---- tasks ------------------------------------------------------------------------------
const payload = Buffer.alloc(4096, 0x61);

async function fileTask(w, n) {
  const p = path.join(dir, `f${w}`);
  const [eo, fd] = await tracked('open', ring.open(p, 'w+', 0o600));
  if (eo) return;
  try {
    await tracked('write', ring.write(fd, payload, { position: 0 }));
    const buf = Buffer.allocUnsafe(4096);
    const [er, got] = await trackedCb('read(cb)', (cb) => ring.read(fd, buf, { position: 0 }, cb));
    if (!er && got !== 4096) throw new Error(`short read ${got}`);
    await tracked('statx', ring.statx(fd));
    if (n % 8 === 0) await tracked('fsync', ring.fdatasync(fd));
    if (n % 16 === 0) await tracked('statx(path)', ring.statx(p, { bigint: true }));
  } finally {
    await tracked('close', ring.closeFd(fd));
  }
}

async function tcpTask(w, n, state) {
  if (!state.sock || n % 50 === 0) {
    if (state.sock) await tracked('sock.close', state.sock.close());
    const [e, s] = await tracked('connect', Socket.connect(listener.address()));
    state.sock = e ? undefined : s;
    if (!state.sock) return;
  }
  const s = state.sock;
  const msg = Buffer.from(`w${w}-n${n}-${'z'.repeat(n % 200)}`);
  const [ew] = n % 2 === 0 ? await tracked('send', s.write(msg))
    : await trackedCb('send(cb)', (cb) => s.write(msg, undefined, cb));
  if (ew) {
    state.sock = undefined;
    await s.close().catch(() => {});
    return;
  }
  let got = 0;
  const buf = Buffer.allocUnsafe(msg.length);
  while (got < msg.length) {
    const [er, k] = await tracked('recv', ring.recv(s.fd, buf, { offset: got, length: msg.length - got, timeout: 5000 }));
    if (er || k === 0) {
      state.sock = undefined;
      await s.close().catch(() => {});
      return;
    }
    got += k;
  }
  if (!buf.equals(msg)) throw new Error('echo mismatch');
}

// Registered resources: a File whose fd sits in the ring's registered file
// table (register: 'auto'), pool buffers (READ_FIXED/WRITE_FIXED), a fixed
// read aborted in flight, and the table entry cleared at close.
const pool = ring.registerBuffers({ count: 64, size: 4096 });

async function registeredTask(w, n) {
  const p = path.join(dir, `r${w}`);
  const [eo, file] = await tracked('File.open(register)', File.open(p, 'w+', 0o600));
  if (eo) return;
  const buf = pool.acquire();
  try {
    if (buf === undefined) {
      await tracked('File.write', file.write(payload, { position: 0 }));
      return;
    }
    buf.fill(n & 0xff);
    await tracked('write(fixed)', file.write(buf, { position: 0 }));
    buf.fill(0);
    const [er, got] = await tracked('read(fixed)', file.read(buf, { position: 0 }));
    if (!er && (got !== 4096 || buf[4095] !== (n & 0xff))) throw new Error(`fixed read: got ${got}, byte ${buf[4095]}`);
    if (n % 4 === 0) {
      const ac = new AbortController();
      const r = tracked('read(fixed)+abort', file.read(buf, { position: 0, signal: ac.signal }));
      ac.abort();
      await r;
    }
  } finally {
    // Released only after every operation on it settled.
    if (buf !== undefined) pool.release(buf);
    await tracked('File.close', file.close());
  }
}

async function deadlineTask(w, n) {
  // A sleep longer than its deadline (ETIMEDOUT), a poll that never fires (ETIMEDOUT), and one that does.
  if (n % 3 === 0) await tracked('sleep>timeout', ring.sleep(50, { timeout: 1 + (n % 3) }));
  else if (n % 3 === 1) await trackedCb('poll(cb)+timeout', (cb) => ring.poll(fifoFd, POLL.IN, { timeout: 2 }, cb));
  else await tracked('sleep<timeout', ring.sleep(1, { timeout: 1000 }));
}

async function abortTask(w, n) {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const ops = [
    tracked('sleep+abort', ring.sleep(10_000, { signal: ac.signal })),
    tracked('poll+abort', ring.poll(fifoFd, POLL.IN, { signal: ac.signal })),
    trackedCb('nop(cb)+abort', (cb) => ring.nop({ signal: ac.signal }, cb)),
  ];
  if (n % 4 === 0) ac.abort();
  else if (n % 4 === 1) queueMicrotask(() => ac.abort());
  else setTimeout(() => ac.abort(), n % 5);
  await Promise.all(ops);
}

async function worker(w) {
  const state = {};
  let n = 0;
  while (!stopping) {
    const pick = (w + n) % 5;
    try {
      if (pick === 0) await fileTask(w, n);
      else if (pick === 1) await tcpTask(w, n, state);
      else if (pick === 2) await deadlineTask(w, n);
      else if (pick === 3) await abortTask(w, n);
      else await registeredTask(w, n);
    } catch (e) {
      unexpected++;
      if (firstUnexpected.length < 5) firstUnexpected.push(String(e?.stack ?? e));
    }
    n++;
  }
  if (state.sock) await tracked('sock.close', state.sock.close());
}

// ---- sampling -------------------------------------------------------------------------------
const samples = [];
const t0 = Date.now();
function sample() {
  gc?.();
  const m = process.memoryUsage();
  const st = ring.stats();
  const s = {
    t: Math.round((Date.now() - t0) / 1000), rssMB: +(m.rss / 2 ** 20).toFixed(1), heapMB: +(m.heapUsed / 2 ** 20).toFixed(1),
    fds: fdCount(), inFlight: st.inFlight, submitted: st.submitted, completed: st.completed, failed: st.failed,
    timedOut: st.timedOut, cancelled: st.cancelled, issued: counts.issued, pending: pending.size,
  };
  samples.push(s);
  console.log(`t=${String(s.t).padStart(4)}s rss=${s.rssMB}MB heap=${s.heapMB}MB fds=${s.fds} inFlight=${s.inFlight} ` +
    `submitted=${s.submitted} completed=${s.completed} failed=${s.failed} timedOut=${s.timedOut} ` +
    `cancelled=${s.cancelled} ops=${s.issued} pending=${s.pending}`);
}

console.log(`soak: ${minutes} min, ${concurrency} concurrent tasks, sampling every ${sampleMs / 1000}s, ` +
  `node ${process.version}, gc ${gc ? 'exposed' : 'not exposed (run with --expose-gc for stable RSS)'}`);
// Warm-up: every task once, so lazily created fds (libuv, the provided-buffer pool, ...) exist
// before the baseline is taken; then wait until the echo server has closed its side.
{
  const state = {};
  await fileTask(0, 1);
  await tcpTask(0, 1, state);
  await deadlineTask(0, 1);
  await abortTask(0, 1);
  await state.sock?.close();
  for (let i = 0; i < 200 && serverConns.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
}
const baselineFds = fdCount();
const timer = setInterval(sample, sampleMs);
sample();
const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
stopping = true;
await Promise.all(workers);
clearInterval(timer);
sample();

// ---- teardown and verdict ----------------------------------------------------------------------
// Same state as the baseline: fixtures open, no client connections; the server closes its side.
for (let i = 0; i < 300 && serverConns.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
await ring.nop();
for (let i = 0; i < 50 && fdCount() > baselineFds; i++) await new Promise((r) => setTimeout(r, 20));
const finalFds = fdCount();
await listener.close();
await acceptLoop.catch(() => {});
for (const s of serverConns) await s.close().catch(() => {});
for (let i = 0; i < 100 && serverConns.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
fs.closeSync(fifoFd);
fs.rmSync(dir, { recursive: true, force: true });
await ring.nop();

const med = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.floor(a.length / 2)];
};
const running = samples.slice(0, -1);
const warm = running.filter((s) => s.t * 1000 >= durationMs * 0.2);
const base = warm.slice(0, Math.min(3, warm.length));
const tail = warm.slice(-Math.min(3, warm.length));
const rssStart = base.length ? med(base.map((s) => s.rssMB)) : NaN;
const rssEnd = tail.length ? med(tail.map((s) => s.rssMB)) : NaN;
const rssGrowthPct = +(((rssEnd - rssStart) / rssStart) * 100).toFixed(2);
const heapStart = base.length ? med(base.map((s) => s.heapMB)) : NaN;
const heapEnd = tail.length ? med(tail.map((s) => s.heapMB)) : NaN;
const st = ring.stats();
const summary = {
  node: process.version, minutes, concurrency, samples: samples.length,
  ops: { issued: counts.issued, settled: counts.settled, ok: counts.ok, lost: pending.size, doubled: counts.doubled },
  opsPerSecond: Math.round(counts.issued / (durationMs / 1000)),
  rss: { afterWarmupMB: rssStart, endMB: rssEnd, growthPct: rssGrowthPct, maxMB: Math.max(...samples.map((s) => s.rssMB)) },
  heap: { afterWarmupMB: heapStart, endMB: heapEnd },
  fds: { baseline: baselineFds, final: finalFds, max: Math.max(...samples.map((s) => s.fds)) },
  ring: st,
  errorsByCode, unexpected, firstUnexpected, byKind,
  bufferPool: pool.stats(), fileTable: ring.fileTableStats(),
};

console.log('\nkind                  issued        ok       err');
for (const [k, v] of Object.entries(byKind)) {
  console.log(`${k.padEnd(20)} ${String(v.issued).padStart(9)} ${String(v.ok).padStart(9)} ${String(v.err).padStart(9)}`);
}
console.log('\nmetric                          value');
const rows = [
  ['operations issued', counts.issued], ['operations settled', counts.settled], ['lost', pending.size],
  ['doubled', counts.doubled], ['unexpected errors', unexpected], ['ops/s', summary.opsPerSecond],
  ['RSS after warm-up (MB)', rssStart], ['RSS at end (MB)', rssEnd], ['RSS growth (%)', rssGrowthPct],
  ['heap after warm-up (MB)', heapStart], ['heap at end (MB)', heapEnd],
  ['fds baseline / final', `${baselineFds} / ${finalFds}`], ['ring inFlight at end', st.inFlight],
  ['pool fixed reads / writes', `${summary.bufferPool.fixedReads} / ${summary.bufferPool.fixedWrites}`],
  ['file table installed at end', summary.fileTable?.installed ?? '(no table)'],
];
for (const [k, v] of rows) console.log(`${String(k).padEnd(28)} ${v}`);
console.log(`\nerrors by code: ${JSON.stringify(errorsByCode)}`);

const failures = [];
if (!(rssGrowthPct < 5)) failures.push(`RSS grew ${rssGrowthPct}% after warm-up (limit 5%)`);
if (finalFds > baselineFds) failures.push(`fds leaked: ${finalFds} > baseline ${baselineFds}`);
if (pending.size !== 0) failures.push(`${pending.size} operations never settled`);
if (counts.doubled !== 0) failures.push(`${counts.doubled} operations settled twice`);
if (unexpected !== 0) failures.push(`${unexpected} unexpected errors: ${firstUnexpected.join('\n')}`);
if (st.inFlight !== 0) failures.push(`ring inFlight ${st.inFlight} at end`);
const ps = summary.bufferPool;
if (ps.free !== ps.count) failures.push(`buffer pool: ${ps.count - ps.free} buffers still acquired at end`);
if (ps.registered && ps.fixedReads === 0) failures.push('buffer pool registered but no fixed read was issued');
if (summary.fileTable && summary.fileTable.installed !== 0) {
  failures.push(`registered file table: ${summary.fileTable.installed} entries still installed after every File closed`);
}
summary.failures = failures;
summary.pass = failures.length === 0;
console.log(`\nSUMMARY ${JSON.stringify(summary)}`);
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ summary, samples }, null, 2));
if (failures.length) {
  console.error(`\nSOAK FAILED:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log('\nSOAK PASSED');
process.exit(0);
