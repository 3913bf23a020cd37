/**
 * A ring created on the mock (the handle Ring holds) and one operation in
 * flight on it. Completions are queued here until the engine copies them
 * into the ring's shared `out` array with protocol.ts's writeCompletion().
 */
import { Cqe, StageHeader, Rec, stageF64, type DescOp } from '../protocol.js';
import type { MockTimer } from './clock.js';
import type { FaultRule } from './faults.js';
import type { FdEntry } from './fds.js';
import type { Req } from './request.js';
import type { MockLogEntry } from './types.js';


/** A pending poll registered on an fd entry. */
export interface PollWaiter {
  readonly op: Op;
  readonly entry: FdEntry;
  readonly events: number;
  readonly multishot: boolean;
  fire(mask: number): void;
}

/** One queued completion (not yet copied to `out`). */
export interface QueuedCqe {
  readonly slot: number;
  readonly hi: number;
  readonly res: number;
  readonly flags: number;
}

export class MockRing {
  readonly f64: Float64Array;
  readonly outCap: number;
  readonly stageCap: number;
  /** Completions posted, not yet copied out. */
  ready: QueuedCqe[] = [];
  readyHead = 0;
  overflowing = false;
  readonly pending = new Map<number, Op>();
  /** Armed separate deadline timers (DescFlag.SEPARATE_TIMER), by slot: they outlive their operation. */
  readonly timers = new Map<number, Op>();
  keepalive: NodeJS.Timeout | undefined;
  destroyed = false;
  /** The id this ring is reachable under for ring-to-ring messages (0: none). */
  messageId = 0;

  constructor(readonly id: number, readonly stage: Int32Array, readonly out: Int32Array, readonly stats: Float64Array,
    readonly turn: Int32Array, readonly onWake: () => void, readonly sqEntries: number, readonly cqEntries: number,
    readonly setupFlags: number) {
    this.f64 = stageF64(stage);
    this.outCap = Math.floor(out.length / Cqe.WORDS);
    this.stageCap = Math.floor((stage.length - StageHeader.WORDS) / Rec.WORDS);
  }

  /** Completions queued, not yet delivered. */
  get queued(): number {
    return this.ready.length - this.readyHead;
  }

  /** Records staged and not yet taken. */
  get staged(): number {
    return this.stage[StageHeader.COUNT] ?? 0;
  }
}

/** One operation in flight (the engine's record of an activation). */
export interface Op {
  readonly ring: MockRing;
  readonly slot: number;
  readonly hi: number;
  readonly code: DescOp;
  readonly req: Req;
  readonly log: MockLogEntry;
  link: boolean;
  /** The deadline is a separate timer (SEPARATE_TIMER): not cancelled with the operation. */
  readonly separate: boolean;
  readonly linkMs: number;
  readonly multishot: boolean;
  done: boolean;
  uncancellable: boolean;
  fault: FaultRule | undefined;
  timer: MockTimer | undefined;
  linkTimer: MockTimer | undefined;
  waiter: PollWaiter | undefined;
  /** Removes the operation from whatever it waits on (a socket's queue). */
  detach: (() => void) | undefined;
  /** sendZc from a handler: when its notification CQE follows the result (true: at once). */
  notify?: Promise<unknown> | true;
}
