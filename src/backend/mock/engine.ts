/**
 * The mock's record engine: the Backend protocol's moving parts, with no
 * knowledge of what an operation does.
 *
 *  - flush(): takes every staged record (decoded with protocol.ts's
 *    decodeRecord), checks it as native/prep.c does, applies the fault plan,
 *    and hands the operation to `execute` (handlers or the built-in models);
 *  - completion posting: one final CQE per operation, one linked-timeout CQE
 *    per operation staged with a deadline (-ETIME if it fired, -ECANCELED
 *    otherwise), one CQE per cancel (0, -ENOENT or -EALREADY); CQEs are
 *    queued per ring and copied into `out` with writeCompletion();
 *  - linked and separate deadline timers on the mock clock;
 *  - wake-ups (one setImmediate "loop turn" for every ring), lazy un-ref,
 *    the virtual clock's autoAdvance;
 *  - ring-to-ring messages (DescOp.MSG_RING) through a process-wide registry
 *    of mock rings, posted into the target with SLOT_MESSAGE as the kernel does.
 *
 * Nothing is ever thrown from flush(): handler errors become results.
 */
import { IORING_CQE_F_MORE, NativeStat, TurnWord } from '../protocol.js';
import {
  decodeRecord, DescFlag, DescOp, Kind, Rec, SLOT_MESSAGE, StageHeader, writeCompletion,
} from '../protocol.js';
import type { MockClockImpl } from './clock.js';
import { E, EBADFD } from '../shared/errno.js';
import type { FaultPlan, FaultRule } from './faults.js';
import type { MockLog } from './log.js';
import type { MockNames } from './names.js';
import { decodeRequest, isMs, needsFd, Req } from './request.js';
import { MockRing, type Op } from './ring.js';
import type { MockLogEntry, MockOpName } from './types.js';

/** A zero-copy send's notification CQE. */
const IORING_CQE_F_NOTIF = 1 << 3;

/** What the engine needs from the rest of the mock. */
export interface EngineHost {
  readonly clock: MockClockImpl;
  readonly faults: FaultPlan;
  readonly log: MockLog;
  readonly autoAdvance: boolean;
  /** The table's operation names: a record is named after the entry it was issued for. */
  readonly names: MockNames;
  /** Runs an operation (its handler or the built-in model); completes it now or later. */
  execute(op: Op): void;
  /** An injected ECONNRESET on this fd: reset the connection (both sides see it). */
  reset(fd: number): void;
}

/** Mock rings reachable for ring-to-ring messages, process-wide (as the addon's registry). */
const messageTargets = new Map<number, { engine: MockEngine; ring: MockRing }>();

export class MockEngine {
  readonly rings = new Set<MockRing>();
  readonly #host: EngineHost;
  #ringIds = 0;
  #seq = 0;
  #flushing: MockRing | undefined;
  #wakeScheduled = false;
  #activity = 0;
  #autoScheduled = false;
  #autoSeen = -1;
  #autoIdle = 0;

  constructor(host: EngineHost) {
    this.#host = host;
    host.clock.sync = () => this.#syncRings();
    host.clock.onSchedule = () => this.#armAuto();
  }

  /** A counter that moves whenever the mock does something (idle detection). */
  get activity(): number {
    return this.#activity;
  }

  touch(): void {
    this.#activity++;
  }

  /** Whether any ring has completions to deliver or records staged. */
  busy(): boolean {
    for (const r of this.rings) if (r.queued > 0 || r.staged > 0) return true;
    return false;
  }

  // ---- rings ------------------------------------------------------------------------------------

  create(entries: number, cqEntries: number, wantFlags: number, stage: Int32Array, out: Int32Array,
    stats: Float64Array, turn: Int32Array, onWake: () => void, attachWqId: number): MockRing | number {
    if (!(entries >= 1 && entries <= 32768) || !(cqEntries >= entries && cqEntries <= 131072)) return -E.EINVAL;
    if (stage.length < StageHeader.WORDS + Rec.WORDS || turn.length <= TurnWord.REFFED ||
      stats.length < NativeStat.COUNT) {
      return -E.EINVAL;
    }
    // IORING_SETUP_ATTACH_WQ: the mock has no worker pool to share, but the target must be a live ring.
    if (attachWqId !== 0 && !messageTargets.has(attachWqId >>> 0)) return -EBADFD;
    const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(n));
    const r = new MockRing(++this.#ringIds, stage, out, stats, turn, onWake, pow2(entries), pow2(cqEntries),
      wantFlags >>> 0);
    if (r.outCap < r.stageCap) throw new RangeError('MockBackend.create: out must hold a completion per staged record');
    stage.fill(0, 0, StageHeader.WORDS);
    this.rings.add(r);
    return r;
  }

  /** Makes `r` reachable for MSG_RING under `id` (process-wide); 0 or -errno. */
  registerRing(r: MockRing, id: number): number {
    const key = id >>> 0;
    if (key === 0) return -E.EINVAL;
    const other = messageTargets.get(key);
    if (other !== undefined && other.ring !== r) return -E.EEXIST;
    if (r.messageId !== 0) messageTargets.delete(r.messageId);
    r.messageId = key;
    messageTargets.set(key, { engine: this, ring: r });
    return 0;
  }

  /** The live ring registered under `id` (any MockBackend of this process), or undefined. */
  static messageTarget(id: number): MockRing | undefined {
    return messageTargets.get(id >>> 0)?.ring;
  }

  destroy(r: MockRing): void {
    r.destroyed = true;
    if (r.messageId !== 0 && messageTargets.get(r.messageId)?.ring === r) messageTargets.delete(r.messageId);
    this.release(r);
    for (const op of [...r.pending.values()]) {
      op.done = true;
      op.timer?.cancel();
      op.linkTimer?.cancel();
      if (op.waiter) op.waiter.entry.pollers.delete(op.waiter);
      op.detach?.();
      op.detach = undefined;
      op.req.abort();
    }
    r.pending.clear();
    for (const op of r.timers.values()) op.linkTimer?.cancel();
    r.timers.clear();
    this.rings.delete(r);
  }

  setRef(r: MockRing, on: boolean): void {
    r.turn[TurnWord.REFFED] = on ? 1 : 0;
    if (on) {
      // The loop stays alive while the ring is ref'd; the un-ref is lazy, as
      // native's uv_prepare hook: on a later wake-up or this check.
      r.keepalive ??= setInterval(() => {
        if (r.turn[TurnWord.WANT_REF] === 0) this.release(r);
      }, 50);
    } else {
      this.release(r);
    }
  }

  release(r: MockRing): void {
    if (r.keepalive !== undefined) clearInterval(r.keepalive);
    r.keepalive = undefined;
    r.turn[TurnWord.REFFED] = 0;
  }

  /** Every operation in flight on every ring, in submission order. */
  inFlight(): Req[] {
    const out: Req[] = [];
    for (const r of this.rings) for (const op of r.pending.values()) out.push(op.req);
    return out.sort((a, b) => a.seq - b.seq);
  }

  forceCancelAll(): number {
    let n = 0;
    for (const r of this.rings) {
      for (const op of [...r.pending.values()]) {
        this.complete(op, -E.ECANCELED, 'cancelled');
        n++;
      }
      for (const op of [...r.timers.values()]) this.#timerDone(op, -E.ECANCELED);
    }
    return n;
  }

  // ---- flush and delivery ------------------------------------------------------------------------

  flush(r: MockRing, pins: unknown[] | undefined): number {
    const stage = r.stage;
    const count = Math.min(r.staged, r.stageCap);
    let i = 0;
    let err = 0;
    if (count > 0) {
      r.stats[NativeStat.ENTERS]! += 1;
      this.#activity++;
    }
    const outer = this.#flushing;
    this.#flushing = r;
    // Handlers run during the flush and may issue operations: with the stage
    // marked full, Ring puts those in its backlog and stages them after this
    // flush returns (records appended here would be lost).
    stage[StageHeader.COUNT] = r.stageCap;
    try {
      for (; i < count; i++) {
        if (!this.#submit(r, i, pins !== undefined ? pins[i] : undefined)) {
          err = -E.EBUSY;
          break;
        }
      }
    } finally {
      this.#flushing = outer;
      if (i > 0 && i < count) {
        stage.copyWithin(StageHeader.WORDS, StageHeader.WORDS + i * Rec.WORDS, StageHeader.WORDS + count * Rec.WORDS);
      }
      stage[StageHeader.COUNT] = count - i;
      stage[StageHeader.REFUSED] = err;
    }
    return this.deliver(r);
  }

  /** Copies queued completions into `out` (as many as fit); returns how many. */
  deliver(r: MockRing): number {
    const avail = r.queued;
    const n = Math.min(avail, r.outCap);
    if (n > 0) {
      const ready = r.ready;
      let h = r.readyHead;
      for (let k = 0; k < n; k++) {
        const c = ready[h++]!;
        writeCompletion(r.out, k, c.slot, c.hi, c.res, c.flags);
      }
      r.readyHead = h;
      if (h === ready.length) {
        r.ready = [];
        r.readyHead = 0;
        r.overflowing = false;
      } else if (h > 1024) {
        r.ready = ready.slice(h);
        r.readyHead = 0;
      }
      r.stats[NativeStat.REAP_BATCHES]! += 1;
      this.#activity++;
    }
    // More to deliver, or a lazy un-ref to check once this batch has been dispatched.
    if (avail > n || r.turn[TurnWord.REFFED] === 1) this.#scheduleWake();
    return n;
  }

  post(r: MockRing, slot: number, hi: number, res: number, flags: number): void {
    r.ready.push({ slot, hi, res: res | 0, flags });
    if (r.queued > r.cqEntries && !r.overflowing) {
      // A full CQ: the kernel (FEAT_NODROP) parks the CQE and sets IORING_SQ_CQ_OVERFLOW.
      r.overflowing = true;
      r.stats[NativeStat.CQ_OVERFLOWS]! += 1;
    }
    this.#activity++;
    if (this.#flushing !== r) this.#scheduleWake();
  }

  // ---- completions ------------------------------------------------------------------------------

  /** The operation's final CQE (and its linked timeout's). Idempotent. */
  complete(op: Op, res: number, by?: string, linkRes = -E.ECANCELED): void {
    if (op.done) return;
    op.done = true;
    const r = op.ring;
    if (r.pending.get(op.slot) === op) r.pending.delete(op.slot);
    op.timer?.cancel();
    op.timer = undefined;
    if (!op.separate) {
      op.linkTimer?.cancel();
      op.linkTimer = undefined;
    }
    if (op.waiter !== undefined) {
      op.waiter.entry.pollers.delete(op.waiter);
      op.waiter = undefined;
    }
    if (op.detach !== undefined) {
      const d = op.detach;
      op.detach = undefined;
      d();
    }
    op.req.abort();
    if (op.fault?.spec.overflow) r.stats[NativeStat.CQ_OVERFLOWS]! += 1;
    op.log.res = res;
    if (by !== undefined) op.log.by = by;
    if (r.destroyed) return;
    if (op.notify !== undefined) {
      // SEND_ZC: the result with F_MORE, the notification later (the kernel
      // posts one for a failed send too).
      this.post(r, op.slot, op.hi, res, IORING_CQE_F_MORE);
      this.#notifyZc(r, op.slot, op.hi, op.notify);
    } else this.post(r, op.slot, op.hi, res, 0);
    // A linked timeout ends with its operation; a separate timer stays armed
    // until it fires or Ring cancels it (a kind-1 CANCEL).
    if (op.link && !op.separate) this.post(r, op.slot, (op.hi & ~3) | Kind.LINK_TIMEOUT, linkRes, 0);
  }

  /** A multishot operation's intermediate CQE (IORING_CQE_F_MORE). */
  emit(op: Op, res: number): void {
    if (op.done || op.ring.destroyed) return;
    if (!op.multishot) throw new Error(`mock: emit() is for multishot operations (${op.req.op} is not one)`);
    this.post(op.ring, op.slot, op.hi, res, IORING_CQE_F_MORE);
  }

  /**
   * MSG_RING's model: posts `{ hi, value }` into the target ring as a
   * SLOT_MESSAGE completion (user_data = hi << 32 | 0xffffffff, res = value).
   * Returns 0, or -EBADFD when no live mock ring has that id.
   */
  sendMessage(target: number, hi: number, value: number): number {
    const t = messageTargets.get(target >>> 0);
    if (t === undefined || t.ring.destroyed) return -EBADFD;
    t.engine.post(t.ring, SLOT_MESSAGE, hi, value, 0);
    return 0;
  }

  /**
   * A zero-copy send's notification CQE (IORING_CQE_F_NOTIF, no F_MORE):
   * the kernel no longer reads the buffer. Posted when `when` settles.
   */
  #notifyZc(r: MockRing, slot: number, hi: number, when: Promise<unknown> | true): void {
    const post = (): void => {
      if (!r.destroyed) this.post(r, slot, hi, 0, IORING_CQE_F_NOTIF);
    };
    if (when === true) post();
    else when.then(post, post);
  }

  /** A separate deadline timer's CQE (-ETIME fired, -ECANCELED removed). */
  #timerDone(op: Op, res: number): void {
    const r = op.ring;
    if (r.timers.get(op.slot) !== op) return;
    r.timers.delete(op.slot);
    op.linkTimer?.cancel();
    op.linkTimer = undefined;
    if (!r.destroyed) this.post(r, op.slot, (op.hi & ~3) | Kind.LINK_TIMEOUT, res, 0);
  }

  #cancel(r: MockRing, slot: number, hi: number, targetSlot: number, targetHi: number): void {
    let res: number;
    if ((targetHi & 3) === Kind.LINK_TIMEOUT) {
      // Removing a separate deadline timer.
      const op = r.timers.get(targetSlot);
      if (op !== undefined && ((op.hi & ~3) | Kind.LINK_TIMEOUT) === targetHi) {
        this.#timerDone(op, -E.ECANCELED);
        res = 0;
      } else res = -E.ENOENT;
      this.post(r, slot, (hi & ~3) | Kind.CANCEL, res, 0);
      return;
    }
    const t = r.pending.get(targetSlot);
    if (t === undefined || t.hi !== targetHi || t.done) res = -E.ENOENT;
    else if (t.uncancellable) res = -E.EALREADY;
    else {
      this.complete(t, -E.ECANCELED, 'cancelled');
      res = 0;
    }
    this.post(r, slot, (hi & ~3) | Kind.CANCEL, res, 0);
  }

  #linkFired(op: Op): void {
    if (op.separate) {
      // A separate timer only reports; Ring cancels the operation itself.
      this.#timerDone(op, -E.ETIME);
      return;
    }
    op.linkTimer = undefined;
    if (op.done) return;
    if (op.uncancellable) {
      // The deadline could not stop it: the timeout's CQE says so, the operation completes on its own.
      op.link = false;
      this.post(op.ring, op.slot, (op.hi & ~3) | Kind.LINK_TIMEOUT, -E.EALREADY, 0);
      return;
    }
    this.complete(op, -E.ECANCELED, 'timeout', -E.ETIME);
  }

  // ---- submission -------------------------------------------------------------------------------

  /** Takes record `i`. Returns false when a `busy` fault refuses it (it stays staged). */
  #submit(r: MockRing, i: number, pin: unknown): boolean {
    const rec = decodeRecord(r.stage, r.f64, i);
    const { op: code, flags, slot, hi, fd, arg0, arg1 } = rec;
    if (code === DescOp.CANCEL) {
      r.stats[NativeStat.SQES]! += 1;
      this.#cancel(r, slot, hi, arg0, arg1);
      return true;
    }
    if (code === DescOp.PBUF_RECYCLE) return true; // returns a provided buffer: no SQE, no CQE
    const link = (flags & DescFlag.LINK_TIMEOUT) !== 0;
    const separate = link && (flags & DescFlag.SEPARATE_TIMER) !== 0;
    const linkMs = link ? rec.linkMs : 0;
    // A record no table entry issues (an unknown opcode) completes with -EINVAL, as in C.
    const name = this.#host.names.nameOf(code, arg0, arg1);
    const known = name !== undefined;
    const req = new Req((name ?? 'nop') as MockOpName, fd);
    let invalid = 0;
    if (!known || rec.kind !== Kind.OP || slot < 0) invalid = -E.EINVAL;
    else if (link && !isMs(linkMs)) invalid = -E.EINVAL;
    else if (needsFd(code) && fd < 0) invalid = -E.EBADF;
    else invalid = decodeRequest(req, rec, pin);
    if (invalid === 0 && this.#pickFault(req, 'submit') !== undefined) return false;
    r.stats[NativeStat.SQES]! += link ? 2 : 1;
    req.seq = ++this.#seq;
    if (link) req.timeout = linkMs;
    const log: MockLogEntry = { seq: req.seq, op: req.op, fd, at: this.#host.clock.now() };
    if (req.path !== undefined) (log as { path?: string }).path = req.path;
    this.#host.log.push(log);
    const op: Op = {
      ring: r, slot, hi, code, req, log, link, separate, linkMs,
      multishot: code === DescOp.POLL_MULTI || code === DescOp.RECV_MULTI ||
        (code === DescOp.ACCEPT && (arg1 & 1) !== 0), done: false,
      uncancellable: false, fault: undefined, timer: undefined, linkTimer: undefined, waiter: undefined,
      detach: undefined,
    };
    req.runEmit = (res) => this.emit(op, res);
    r.pending.set(slot, op);
    if (invalid !== 0) {
      if (separate) this.post(r, slot, (hi & ~3) | Kind.LINK_TIMEOUT, -E.ECANCELED, 0); // no timer was armed
      this.complete(op, invalid, 'invalid');
      return true;
    }
    if (separate) {
      // Armed with the operation, as its own TIMEOUT SQE: it outlives an operation that completes first.
      r.timers.set(slot, op);
      op.linkTimer = this.#host.clock.schedule(linkMs, () => this.#linkFired(op));
    }
    this.#start(op, this.#pickFault(req, 'op'));
    return true;
  }

  #pickFault(req: Req, phase: 'submit' | 'op'): FaultRule | undefined {
    try {
      return this.#host.faults.pick(req, phase);
    } catch (e) {
      this.#host.log.recordError(e, `a fault's match() threw for ${req.op}`);
      return undefined;
    }
  }

  #start(op: Op, fault: FaultRule | undefined): void {
    const req = op.req;
    if (fault !== undefined) {
      op.fault = fault;
      op.log.fault = fault.id;
      if (fault.spec.shortBy !== undefined) this.#shorten(req, fault);
    }
    const delay = fault?.spec.delayMs;
    const errno = fault?.errnoValue;
    if (delay !== undefined && delay > 0) {
      op.timer = this.#host.clock.schedule(delay, () => {
        op.timer = undefined;
        if (errno !== undefined) this.#fail(op, errno);
        else this.#execute(op);
      });
    } else if (errno !== undefined) {
      this.#fail(op, errno);
    } else {
      this.#execute(op);
    }
    if (!op.done && op.link && op.linkTimer === undefined) {
      op.linkTimer = this.#host.clock.schedule(op.linkMs, () => this.#linkFired(op));
    }
  }

  #execute(op: Op): void {
    if (!op.done) this.#host.execute(op);
  }

  /** An injected errno. ECONNRESET on a connected stream socket also resets the connection (both sides see it). */
  #fail(op: Op, errno: number): void {
    if (errno === E.ECONNRESET && op.code !== DescOp.CONNECT) this.#host.reset(op.req.fd);
    this.complete(op, -errno, 'fault');
  }

  /** A short read or write: the request asks for fewer bytes. */
  #shorten(req: Req, fault: FaultRule): void {
    const faults = this.#host.faults;
    if (req.buffer !== undefined && (req.op === 'read' || req.op === 'write' || req.op === 'send' ||
      req.op === 'recv' || req.op === 'sendmsg' || req.op === 'recvmsg')) {
      const n = faults.shortLength(fault, req.buffer.length);
      req.buffer = req.buffer.subarray(0, n);
      req.length = n;
    } else if (req.buffers !== undefined) {
      let left = faults.shortLength(fault, req.length);
      req.length = left;
      const trimmed: Uint8Array[] = [];
      for (const v of req.buffers) {
        if (left === 0) break;
        const part = v.subarray(0, Math.min(v.length, left));
        trimmed.push(part);
        left -= part.length;
      }
      req.buffers = trimmed.length > 0 ? trimmed : [new Uint8Array(0)];
    }
  }

  // ---- wake-ups, liveness, autoAdvance ------------------------------------------------------------

  /** Has every ring submit what it has staged (Ring's drive: flush, dispatch; a no-op while it is driving). */
  #syncRings(): void {
    for (const r of [...this.rings]) {
      if (!r.destroyed && r.staged > 0) r.onWake();
    }
  }

  #scheduleWake(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(this.#pump);
  }

  /** One loop turn of the mock: count it, apply a lazy un-ref, wake rings with completions ready. */
  readonly #pump = (): void => {
    this.#wakeScheduled = false;
    for (const r of [...this.rings]) {
      if (r.destroyed) continue;
      r.turn[TurnWord.COUNT] = (r.turn[TurnWord.COUNT]! + 1) | 0;
      if (r.turn[TurnWord.REFFED] === 1 && r.turn[TurnWord.WANT_REF] === 0) this.release(r);
      if (r.queued > 0) {
        try {
          r.onWake();
        } catch (e) {
          process.nextTick(() => {
            throw e;
          });
        }
      }
    }
  };

  #armAuto(): void {
    const clock = this.#host.clock;
    if (!this.#host.autoAdvance || this.#autoScheduled || clock.pending() === 0) return;
    this.#autoScheduled = true;
    let wanted = false;
    for (const r of this.rings) if (r.turn[TurnWord.WANT_REF] === 1 || r.turn[TurnWord.REFFED] === 1) wanted = true;
    // Keep the loop alive only for what a ring keeps alive (unref'd sleeps let the process exit).
    if (wanted) setImmediate(this.#autoTick);
    else setTimeout(this.#autoTick, 1).unref();
  }

  readonly #autoTick = (): void => {
    this.#autoScheduled = false;
    const clock = this.#host.clock;
    if (clock.pending() === 0) return;
    const busy = this.#wakeScheduled || this.busy();
    if (busy || this.#autoSeen !== this.#activity) {
      this.#autoSeen = this.#activity;
      this.#autoIdle = 0;
    } else if (++this.#autoIdle >= 2) {
      this.#autoIdle = 0;
      clock.next();
    }
    this.#armAuto();
  };
}
