/**
 * The far side of the threads suite (bench/threads/main.ts): one worker per
 * mode, started once and reused by every repeat. Pins itself to
 * workerData.cpu first (when >= 0).
 *
 *  - ring:     echoes every ring message with tag PING back to the parent's
 *              ring; counts messages with tag SINK and answers END with
 *              { tag: END, value: count since the last END }; STOP ends it.
 *  - port:     echoes every message that is a number >= 0 (a ping); counts
 *              negative numbers (sink messages) and answers { end } with
 *              { end: count since the last end }.
 *  - atomics:  a blocking Atomics.wait loop on a SharedArrayBuffer: copies
 *              word 0 (the ping) to word 1 (the pong) and notifies; -1 ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { nativeBinding, Ring } from '../../src/index.js';

import { CONFIG, END, PING, SINK, STOP, type BenchWorkerData } from './protocol.js';

const data = workerData as BenchWorkerData;
const port = parentPort!;
const pinned = data.cpu >= 0 ? nativeBinding().sys!.setAffinity(data.cpu) : 0;

if (data.mode === 'ring') {
  const ring = Ring.current();
  const parent = data.parentRing!;
  port.postMessage({ ready: true, pinned, ring: ring.handle });
  const fail = (err: Error | null): void => {
    if (err) throw err;
  };
  let count = 0;
  for await (const m of ring.messages()) {
    if (m.tag === PING) ring.sendMessage(parent, m, undefined, fail);
    else if (m.tag === SINK) count++;
    else if (m.tag === END) {
      // One sender's messages arrive in order: every SINK before this END is counted.
      ring.sendMessage(parent, { tag: END, value: count }, undefined, fail);
      count = 0;
    } else if (m.tag === CONFIG) {
      ring.busyPollUs = m.value;
      ring.sendMessage(parent, m, undefined, fail);
    } else if (m.tag === STOP) break;
  }
  port.postMessage({ stats: ring.stats() });
  port.close();
} else if (data.mode === 'port') {
  let count = 0;
  port.on('message', (m: number | { end?: number; stop?: true }) => {
    if (typeof m === 'number') {
      if (m < 0) count++; // a sink message
      else port.postMessage(m); // a ping
    } else if (m.end !== undefined) {
      port.postMessage({ end: count }); // messages arrive in order: every sink before this is counted
      count = 0;
    } else if (m.stop) port.close();
  });
  port.postMessage({ ready: true, pinned });
} else {
  const a = new Int32Array(data.sab!);
  port.postMessage({ ready: true, pinned });
  let last = 0;
  for (;;) {
    Atomics.wait(a, 0, last);
    const v = Atomics.load(a, 0);
    if (v === -1) break;
    if (v === last) continue;
    last = v;
    Atomics.store(a, 1, v);
    Atomics.notify(a, 1);
  }
  port.close();
}
