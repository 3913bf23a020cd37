/**
 * threads suite: ring-to-ring messages between the main thread and a worker
 * (IORING_OP_MSG_RING) against worker postMessage and Atomics, and the cost
 * of TaskGroup spawn/join against Promise.all.
 * See bench/README.md for what each case measures.
 *
 * The runner pins this process to one CPU (taskset); each peer worker pins
 * itself to another CPU (sched_setaffinity), so every ping-pong crosses
 * cores, the way thread-per-core programs talk.
 */
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { Ring, TaskGroup, type RingHandle, type RingMessage, type RingStats } from '../../src/index.js';
import { startSuite } from '../lib/suite.js';
import {
  Case, emit, interleave, sampler, type Sampler,
} from '../lib/report.js';
import { countEnters } from '../lib/enters.js';

import { CONFIG, END, PING, SINK, STOP, type BenchWorkerData } from './protocol.js';

const WORKER = new URL('./worker.js', import.meta.url);
/** msg-throughput: sends issued per synchronous run (one io_uring_enter), awaited before the next batch. */
const BATCH = 256;
/** taskgroup-spawn: tasks per group. */
const TASKS = 10_000;
/**
 * RingOptions.busyPollUs of both rings (main and worker) for the msg-* cases;
 * the *-nospin cases use 0 (the default).
 */
const BUSY_US = 50;
const US = 1000;

type WaitAsync = (a: Int32Array, index: number, value: number) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

function fail(err: Error | null): void {
  if (err) throw err;
}

// ---- peers: one worker per mode ------------------------------------------------

interface Peer {
  worker: Worker;
  pinned: number;
  ring?: RingHandle;
  /** Resolves with the next message from the worker. */
  next(): Promise<unknown>;
  exited: Promise<number>;
}

async function startPeer(data: BenchWorkerData): Promise<Peer> {
  const worker = new Worker(WORKER, { workerData: data });
  let waiter: ((m: unknown) => void) | undefined;
  const queue: unknown[] = [];
  worker.on('message', (m: unknown) => {
    const w = waiter;
    if (w !== undefined) {
      waiter = undefined;
      w(m);
    } else queue.push(m);
  });
  let error: unknown;
  worker.on('error', (e) => (error = e));
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const next = (): Promise<unknown> => {
    if (queue.length > 0) return Promise.resolve(queue.shift());
    return new Promise((resolve) => (waiter = resolve));
  };
  const ready = (await Promise.race([next(), exited.then((c) => {
    throw new Error(`bench worker (${data.mode}) exited with ${c} before it was ready: ${String(error)}`);
  })])) as { pinned: number; ring?: RingHandle };
  return { worker, pinned: ready.pinned, ...(ready.ring !== undefined ? { ring: ready.ring } : {}), next, exited };
}

// ---- subjects: run(n) performs n round trips / messages / tasks -------------------

function ringRoundtrip(ring: Ring, target: RingHandle, it: AsyncIterator<RingMessage>) {
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      ring.sendMessage(target, { tag: PING, value: i }, undefined, fail);
      const r = await it.next();
      if (r.done || r.value.tag !== PING || r.value.value !== i) throw new Error(`bad echo ${JSON.stringify(r)} for ${i}`);
    }
  };
}

function portRoundtrip(p: Peer) {
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const reply = p.next();
      p.worker.postMessage(i);
      if ((await reply) !== i) throw new Error(`bad postMessage echo for ${i}`);
    }
  };
}

function atomicsRoundtrip(a: Int32Array) {
  let seq = 0;
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const prev = seq;
      seq = seq === 0x7ffffffe ? 1 : seq + 1;
      Atomics.store(a, 0, seq);
      Atomics.notify(a, 0);
      const r = waitAsync!(a, 1, prev);
      if (r.async) await r.value;
    }
  };
}

function ringThroughput(ring: Ring, target: RingHandle, it: AsyncIterator<RingMessage>) {
  return async (n: number): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      let left = n;
      let inFlight = 0;
      const done = (err: Error | null): void => {
        if (err) return reject(err);
        if (--inFlight === 0) {
          if (left === 0) resolve();
          else issue();
        }
      };
      const issue = (): void => {
        const k = Math.min(BATCH, left);
        left -= k;
        inFlight = k;
        for (let j = 0; j < k; j++) ring.sendMessage(target, { tag: SINK, value: j }, undefined, done);
      };
      issue();
    });
    // Timing ends when the worker has consumed every message.
    ring.sendMessage(target, { tag: END, value: n }, undefined, fail);
    const r = await it.next();
    if (r.done || r.value.tag !== END || r.value.value !== n) throw new Error(`worker counted ${JSON.stringify(r.value)}, sent ${n}`);
  };
}

function portThroughput(p: Peer) {
  return async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) p.worker.postMessage(-1);
    const reply = p.next();
    p.worker.postMessage({ end: n });
    const m = (await reply) as { end: number };
    if (m.end !== n) throw new Error(`worker counted ${m.end}, posted ${n}`);
  };
}

const trivial = async (): Promise<void> => {};

async function taskGroupSpawn(n: number): Promise<void> {
  for (let k = 0; k < n; k += TASKS) {
    const g = new TaskGroup();
    for (let i = 0; i < TASKS; i++) g.spawn(trivial);
    await g.join();
  }
}

async function promiseAll(n: number): Promise<void> {
  const ps = new Array<Promise<void>>(TASKS);
  for (let k = 0; k < n; k += TASKS) {
    for (let i = 0; i < TASKS; i++) ps[i] = trivial();
    await Promise.all(ps);
  }
}

// ---- sampler plumbing -------------------------------------------------------------

/** Sets busyPollUs on both rings (the worker acknowledges) before `s` runs. */
function busyPoll(ring: Ring, target: RingHandle, it: AsyncIterator<RingMessage>) {
  const set = async (us: number): Promise<void> => {
    ring.busyPollUs = us;
    ring.sendMessage(target, { tag: CONFIG, value: us }, undefined, fail);
    const r = await it.next();
    if (r.done || r.value.tag !== CONFIG || r.value.value !== us) throw new Error(`bad CONFIG ack ${JSON.stringify(r)}`);
  };
  return {
    set,
    wrap: (us: number, s: Sampler): Sampler => async () => {
      await set(us);
      return s();
    },
  };
}



/** The CPU for the peer workers: UK_BENCH_PEER_CPU, else the CPU after ours (mod the machine's CPU count). */
function peerCpu(env: { cpusAllowed: string; pinned: boolean }): number {
  const forced = process.env['UK_BENCH_PEER_CPU'];
  if (forced !== undefined) return Number(forced);
  const n = os.cpus().length;
  if (n < 2) return -1;
  const mine = env.pinned ? Number(env.cpusAllowed) : 0;
  return (mine + 1) % n;
}

// ---- the suite -------------------------------------------------------------------

export async function main(argv: string[]): Promise<void> {
  const { o, env, cases, notes } = startSuite('threads', argv);

  const ring = Ring.current();
  const cpu = peerCpu(env);
  const sab = new SharedArrayBuffer(8);
  const atomics = new Int32Array(sab);
  const ringPeer = await startPeer({ mode: 'ring', cpu, parentRing: ring.handle });
  const portPeer = await startPeer({ mode: 'port', cpu });
  const atomicsPeer = await startPeer({ mode: 'atomics', cpu, sab });
  const pinned = [ringPeer, portPeer, atomicsPeer].every((p) => p.pinned === 0);
  notes.push(cpu < 0 ? 'peer workers: not pinned (one CPU)' : pinned
    ? `peer workers pinned to CPU ${cpu} (main thread: ${env.pinned ? `CPU ${env.cpusAllowed}` : 'unpinned'})`
    : `peer workers: pinning to CPU ${cpu} failed (errno ${-[ringPeer, portPeer, atomicsPeer].find((p) => p.pinned !== 0)!.pinned}); unpinned`);
  notes.push(`uringkit ring flags: ${ring.info.flags.join('|') || '(none)'}`);
  const it = ring.messages();

  const bp = busyPoll(ring, ringPeer.ring!, it);
  const spinNote = `uringkit subject: busyPollUs ${BUSY_US} on both rings (opt-in; spins up to ${BUSY_US} µs on the ` +
    'completion queue before its event loop would sleep while it waits for a message); the *-nospin cases: default 0';
  notes.push(spinNote);

  // -- round trip ------------------------------------------------------------------
  {
    await bp.set(BUSY_US);
    const mr = countEnters(ring, await sampler('msg-roundtrip', ringRoundtrip(ring, ringPeer.ring!, it), o, { scale: US }), 'submitted');
    await bp.set(0);
    const mr0 = countEnters(ring, await sampler('msg-roundtrip-nospin', ringRoundtrip(ring, ringPeer.ring!, it), o, { scale: US }), 'submitted');
    const subjects: Record<string, Sampler> = {
      mr: bp.wrap(BUSY_US, mr.sampler),
      mr0: bp.wrap(0, mr0.sampler),
      pm: await sampler('post-message (round trip)', portRoundtrip(portPeer), o, { scale: US }),
    };
    if (waitAsync !== undefined) subjects['at'] = await sampler('atomics (round trip)', atomicsRoundtrip(atomics), o, { scale: US });
    const s = await interleave(subjects, o);
    for (const [name, key, m, target] of [['msg-roundtrip', 'mr', mr, true], ['msg-roundtrip-nospin', 'mr0', mr0, false]] as const) {
      const c = new Case(name, 'µs/roundtrip').uringkit(s[key]!)
        .peer('post-message', s['pm']!, 'worker.postMessage(i) -> parentPort.postMessage(i) echo, await the message event');
      if (target) c.target('post-message', 2);
      if (waitAsync !== undefined) {
        c.peer('atomics', s['at']!, 'main: Atomics.store + notify, await Atomics.waitAsync; worker: blocking Atomics.wait loop');
      } else {
        c.missingPeer('atomics', `Atomics.waitAsync is not available in Node ${process.version}`);
      }
      const r = c.build();
      r.info = `ring.send + await messages().next() per round trip, busyPollUs ${key === 'mr' ? BUSY_US : 0} on both rings; ` +
        `main-thread io_uring_enter per round trip: ${m.perOp().toFixed(3)}`;
      cases.push(r);
    }
  }

  // -- throughput ------------------------------------------------------------------------
  {
    await bp.set(BUSY_US);
    const mt = countEnters(ring, await sampler('msg-throughput', ringThroughput(ring, ringPeer.ring!, it), o,
      { multiple: BATCH, rate: true }), 'submitted');
    await bp.set(0);
    const mt0 = countEnters(ring, await sampler('msg-throughput-nospin', ringThroughput(ring, ringPeer.ring!, it), o,
      { multiple: BATCH, rate: true }), 'submitted');
    const s = await interleave({
      mt: bp.wrap(BUSY_US, mt.sampler),
      mt0: bp.wrap(0, mt0.sampler),
      pm: await sampler('post-message (throughput)', portThroughput(portPeer), o, { multiple: BATCH, rate: true }),
    }, o);
    for (const [name, key, m, target] of [['msg-throughput', 'mt', mt, true], ['msg-throughput-nospin', 'mt0', mt0, false]] as const) {
      const c = new Case(name, 'msgs/s').uringkit(s[key]!)
        .peer('post-message', s['pm']!, 'worker.postMessage(-1) n times, then a count request; the worker counts in its message handler');
      if (target) c.target('post-message', 5);
      const r = c.build();
      r.info = `one way main -> worker, ${BATCH} ring.send per io_uring_enter, batch awaited before the next; ` +
        `the worker consumes with for await (ring.messages()); timed until the worker reports the count; ` +
        `busyPollUs ${key === 'mt' ? BUSY_US : 0} on both rings; main-thread io_uring_enter per message: ${m.perOp().toFixed(4)}`;
      cases.push(r);
    }
  }
  await bp.set(0);

  // -- TaskGroup ------------------------------------------------------------------------------
  {
    const s = await interleave({
      tg: await sampler('taskgroup-spawn', taskGroupSpawn, o, { multiple: TASKS }),
      pa: await sampler('promise-all', promiseAll, o, { multiple: TASKS }),
    }, o);
    const r = new Case('taskgroup-spawn', 'ns/task').uringkit(s['tg']!)
      .peer('promise-all', s['pa']!, `Promise.all over ${TASKS} calls of async () => {}`)
      .build();
    r.info = `new TaskGroup(), ${TASKS} x spawn(async () => {}), await join()`;
    cases.push(r);
  }

  // -- shut the peers down -------------------------------------------------------------------
  ring.sendMessage(ringPeer.ring!, { tag: STOP, value: 0 }, undefined, fail);
  const peerStats = (await ringPeer.next()) as { stats: RingStats };
  portPeer.worker.postMessage({ stop: true });
  Atomics.store(atomics, 0, -1);
  Atomics.notify(atomics, 0);
  await Promise.all([ringPeer.exited, portPeer.exited, atomicsPeer.exited]);
  await it.return!();
  const ms = ring.stats();
  notes.push(`CQ overflows (parked completions): main ring ${ms.cqOverflows}, worker ring ${peerStats.stats.cqOverflows}; ` +
    `dropped: ${ms.cqesDropped + peerStats.stats.cqesDropped}`);
  await ring.close();
  emit({ suite: 'threads', env, options: { repeats: o.repeats, repeatMs: o.repeatMs, warmup: o.warmup }, cases, notes }, o.json);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
