/**
 * Ring-to-ring messages (MSG_RING) on the portable backend: a
 * BroadcastChannel per registered ring id carries `{ hi, value }` to the
 * target ring's thread, where it becomes a SLOT_MESSAGE completion, as the
 * kernel posts it on io_uring. Channels are unref'd: the receiving Ring keeps
 * the loop alive while a consumer waits (Backend.setRef), as on io_uring.
 *
 * Which ids are live is a process-wide table in a SharedArrayBuffer handed to
 * worker threads through worker_threads' environment data (set when this
 * module is first loaded; workers started afterwards share it). A send to an
 * id not in the table fails with EBADFD, which Ring reports as
 * ERR_RING_CLOSED, exactly as the addon's registry does.
 */
import { BroadcastChannel, getEnvironmentData, setEnvironmentData } from 'node:worker_threads';

const KEY = 'uringkit:portable:rings';
const SLOTS = 4096;
const EBADFD = 77;

function registryMemory(): Int32Array {
  let sab = getEnvironmentData(KEY) as SharedArrayBuffer | undefined;
  if (!(sab instanceof SharedArrayBuffer)) {
    sab = new SharedArrayBuffer(SLOTS * 4);
    setEnvironmentData(KEY, sab);
  }
  return new Int32Array(sab);
}

const live = registryMemory();

function channelName(id: number): string {
  return `uringkit:ring:${id >>> 0}`;
}

/** Marks `id` live; false when the table is full. */
function register(id: number): boolean {
  const v = id | 0;
  for (let i = 0; i < SLOTS; i++) {
    if (Atomics.compareExchange(live, i, 0, v) === 0) return true;
  }
  return false;
}

function unregister(id: number): void {
  const v = id | 0;
  for (let i = 0; i < SLOTS; i++) {
    if (Atomics.compareExchange(live, i, v, 0) === v) return;
  }
}

export function isLive(id: number): boolean {
  const v = id | 0;
  if (v === 0) return false;
  for (let i = 0; i < SLOTS; i++) if (Atomics.load(live, i) === v) return true;
  return false;
}

/**
 * Listens for messages addressed to `id`; `deliver(hi, value)` posts the
 * completion. Returns the detach function, or undefined when no id is free.
 */
export function listen(id: number, deliver: (hi: number, value: number) => void): (() => void) | undefined {
  if (!register(id)) return undefined;
  local.set(id | 0, deliver);
  const ch = new BroadcastChannel(channelName(id));
  ch.onmessage = (ev: unknown) => {
    const d = (ev as { data?: unknown }).data;
    if (Array.isArray(d) && d.length === 2) deliver(d[0] as number, d[1] as number);
  };
  (ch as unknown as { unref(): void }).unref();
  return () => {
    local.delete(id | 0);
    unregister(id);
    ch.close();
  };
}

/** Rings of this thread: a message to one of them is posted directly (no channel hop). */
const local = new Map<number, (hi: number, value: number) => void>();

// A thread that ends (a worker exiting, or terminated) with rings still open: their ids leave the
// table, so senders get ERR_RING_CLOSED instead of posting into a channel nobody reads.
process.once('exit', () => {
  for (const id of local.keys()) unregister(id);
});

const senders = new Map<number, BroadcastChannel>();

/** Sends `{ hi, value }` to ring `id`: 0, or -EBADFD when no live ring has that id. */
export function send(id: number, hi: number, value: number): number {
  const here = local.get(id | 0);
  if (here !== undefined) {
    here(hi, value);
    return 0;
  }
  if (!isLive(id)) {
    const old = senders.get(id);
    if (old !== undefined) {
      senders.delete(id);
      old.close();
    }
    return -EBADFD;
  }
  let ch = senders.get(id);
  if (ch === undefined) {
    ch = new BroadcastChannel(channelName(id));
    (ch as unknown as { unref(): void }).unref();
    senders.set(id, ch);
  }
  ch.postMessage([hi, value]);
  return 0;
}
