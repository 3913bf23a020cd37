/**
 * MockBackend: the Backend protocol (src/backend/backend.ts) implemented in
 * JavaScript with no system calls. It consumes the same descriptor records
 * the io_uring addon consumes and posts the same completion records, so Ring
 * and everything built on it (File, readFile, TaskGroup users) run
 * unchanged on top of:
 *
 *  - an in-memory file system (`mock.fs`) and fd table;
 *  - a clock (`mock.clock`), virtual by default, for sleeps, `timeout`
 *    deadlines and delayed completions;
 *  - per-operation handlers (`mock.handle('read', req => ...)`);
 *  - a seeded fault plan (`mock.faults.add({ op: 'write', errno: 'EIO' })`);
 *  - poll readiness the test drives (`mock.setReady(fd, mask)`).
 *
 * Completion rules (what Ring relies on, as with io_uring): exactly one
 * final CQE per operation, one linked-timeout CQE per operation staged with
 * a deadline (-ETIME if it fired, -ECANCELED otherwise), one CQE per cancel
 * (0, -ENOENT or -EALREADY). Handlers run synchronously when the operation
 * is submitted (inside flush(), or when a delay ends); operations a handler
 * issues on a ring are queued by Ring and submitted right after. Nothing is
 * ever thrown from flush(): handler errors become results.
 */
import { constants as fsc } from 'node:fs';

import type { Backend, BackendHandle, SyscallBackend } from '../backend.js';
import { DescFlag, DescOp, Kind } from '../protocol.js';
import { IORING_CQE_F_MORE, IORING_OP, NativeStat } from '../../ring/constants.js';

/** A zero-copy send's notification CQE. */
const IORING_CQE_F_NOTIF = 1 << 3;
import { MockClockImpl, type MockClock, type MockTimer } from './clock.js';
import { E, errnoName, errnoNumber } from './errno.js';
import { FaultPlan, type FaultRule, type FaultSpec } from './faults.js';
import { FdTable, FILE_READY, type FdEntry, type MockOpenFd } from './fds.js';
import { Inode, MockFs, type MockFsOptions } from './fs.js';
import { MockNet, MockSocket, PENDING as NET_PENDING, type NetWaiter } from './net.js';
import { addrOf, bytesOfAddr, decodeSockaddr, encodeSockaddr, formatAddr, type MockAddr } from './sockaddr.js';
import { defaultSeed, Prng } from './prng.js';
import {
  opName, type MockHandler, type MockLogEntry, type MockOpName, type MockReply, type MockRequest, type MockResult,
  type MockStatInit,
} from './types.js';

const STAGE_HEADER_WORDS = 16;
const DESC_WORDS = 16;
const CQE_WORDS = 4;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;
const POLL_ALWAYS = 0x008 | 0x010 | 0x020; // POLLERR | POLLHUP | POLLNVAL
const LAST_FILE_OP = DescOp.FTRUNCATE;
/** Socket operations (22..30, modelled in net.ts) and MSG_RING (32, not modelled); PBUF_RECYCLE (31) takes no SQE. */
const LAST_DESC_OP = 32;
const DESC_PBUF_RECYCLE = 31;

/** A model's answer when the operation completes later (timer, poll, ...). */
const PENDING = Symbol('pending');
/** A result, PENDING, or `{ noModel }`: there is no built-in model for this operation (or fd kind). */
type ModelResult = number | typeof PENDING | { noModel: string };

export interface MockBackendOptions {
  /** Seed of the PRNG behind every fault decision. Default: URINGKIT_MOCK_SEED, else random (see `mock.seed`). */
  seed?: number;
  /** 'virtual' (default): time moves only by clock.advance()/tick()/next() or autoAdvance. 'real': real timers. */
  clock?: 'virtual' | 'real';
  /**
   * Virtual clock: when nothing is runnable (no completion to deliver, nothing
   * staged, no mock activity for two loop turns), jump to the next timer.
   * Lets code full of sleeps and deadlines run instantly. Default false.
   */
  autoAdvance?: boolean;
  /** Wall-clock time (ms since the epoch) at virtual time 0, for file times. Default 2024-01-01T00:00:00Z. */
  epoch?: number;
  /** Fault rules to start with (see `mock.faults.add`). */
  faults?: FaultSpec[];
  /** Handlers to start with (see `mock.handle`). */
  handlers?: Partial<Record<MockOpName, MockHandler>>;
  /**
   * The in-memory file system: options, or false to have no built-in file
   * model at all (then every file operation needs a handler). Default on.
   */
  fs?: boolean | MockFsOptions;
  /** Lowest fd number handed out. Default 3. */
  fdBase?: number;
  /** Entries kept in `mock.log` (oldest dropped first). Default 10000. */
  logLimit?: number;
}

/** An operation without a handler or a built-in model. */
export interface MockUnhandled {
  op: MockOpName;
  seq: number;
  fd: number;
  path?: string | undefined;
  message: string;
}

interface PollWaiter {
  readonly op: Op;
  readonly entry: FdEntry;
  readonly events: number;
  readonly multishot: boolean;
  fire(mask: number): void;
}

/** A ring created on this backend (the handle Ring holds). */
class MockRing {
  readonly stageView: DataView;
  readonly outCap: number;
  readonly stageCap: number;
  /** Completions posted, not yet copied out: flat [slot, hi, res, flags]. */
  ready: number[] = [];
  readyHead = 0;
  overflowing = false;
  readonly pending = new Map<number, Op>();
  /** Armed separate deadline timers (DescFlag.SEPARATE_TIMER), by slot: they outlive their operation. */
  readonly timers = new Map<number, Op>();
  keepalive: NodeJS.Timeout | undefined;
  destroyed = false;

  constructor(readonly id: number, readonly stage: Int32Array, readonly out: Int32Array, readonly stats: Float64Array,
    readonly turn: Int32Array, readonly onWake: () => void, readonly sqEntries: number, readonly cqEntries: number,
    readonly setupFlags: number) {
    this.stageView = new DataView(stage.buffer, stage.byteOffset, stage.byteLength);
    this.outCap = Math.floor(out.length / CQE_WORDS);
    this.stageCap = Math.floor((stage.length - STAGE_HEADER_WORDS) / DESC_WORDS);
  }

  f64(word: number): number {
    return this.stageView.getFloat64(word * 4, true);
  }

  get queued(): number {
    return (this.ready.length - this.readyHead) / 4;
  }
}

/** The request object handlers see. */
class Req implements MockRequest {
  seq = 0;
  path?: string;
  dest?: string;
  flags = 0;
  mode = 0;
  position = 0;
  length = 0;
  buffer?: Uint8Array;
  buffers?: Uint8Array[];
  ms = 0;
  timeout?: number;
  address?: string;
  /** statx: the output buffer (internal). */
  statOut?: Uint8Array;
  /** connect/sendmsg: the destination (internal). */
  sockaddr?: MockAddr;
  /** recvmsg: where the sender's address goes (internal). */
  addrOut?: Uint8Array;
  #ac: AbortController | undefined;
  #aborted = false;
  /** @internal Wired by the backend. */
  runDefault: () => number | Promise<number> = () => {
    throw new Error('no model');
  };
  /** @internal */
  runEmit: (res: number) => void = () => {};

  constructor(readonly op: MockOpName, readonly fd: number) {}

  get signal(): AbortSignal {
    if (this.#ac === undefined) {
      this.#ac = new AbortController();
      if (this.#aborted) this.#ac.abort(new Error(`${this.op} #${this.seq} was completed by the mock (cancelled or timed out)`));
    }
    return this.#ac.signal;
  }

  /** @internal */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#ac?.abort(new Error(`${this.op} #${this.seq} was completed by the mock (cancelled or timed out)`));
  }

  default(): number | Promise<number> {
    return this.runDefault();
  }

  emit(res: number): void {
    this.runEmit(res);
  }
}

interface Op {
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

/** Maps a descriptor to the public operation name. */
function nameOf(code: number, arg0: number): MockOpName {
  switch (code) {
    case DescOp.NOP: return 'nop';
    case DescOp.TIMEOUT: return 'sleep';
    case DescOp.POLL: return 'poll';
    case DescOp.POLL_MULTI: return 'pollMultishot';
    case DescOp.CLOSE: return 'closeFd';
    case DescOp.READ: return 'read';
    case DescOp.WRITE: return 'write';
    case DescOp.READV: return 'readv';
    case DescOp.WRITEV: return 'writev';
    case DescOp.FSYNC: return (arg0 & 1) !== 0 ? 'fdatasync' : 'fsync';
    case DescOp.FALLOCATE: return 'fallocate';
    case DescOp.FADVISE: return 'fadvise';
    case DescOp.OPENAT: return 'open';
    case DescOp.STATX: return 'statx';
    case DescOp.UNLINKAT: return (arg0 & AT_REMOVEDIR) !== 0 ? 'rmdir' : 'unlink';
    case DescOp.MKDIRAT: return 'mkdir';
    case DescOp.RENAMEAT: return 'rename';
    case DescOp.SYMLINKAT: return 'symlink';
    case DescOp.LINKAT: return 'link';
    case DescOp.SPLICE: return 'splice';
    case DescOp.FTRUNCATE: return 'ftruncate';
    case DescOp.ACCEPT: return 'accept';
    case DescOp.CONNECT: return 'connect';
    case DescOp.SEND: return 'send';
    case DescOp.RECV: return 'recv';
    case DescOp.RECV_MULTI: return 'recvMultishot';
    case DescOp.SENDMSG: return 'sendmsg';
    case DescOp.RECVMSG: return 'recvmsg';
    case DescOp.SEND_ZC: return 'sendZc';
    case DescOp.SHUTDOWN: return 'shutdown';
    default: return 'msgRing';
  }
}

function needsFd(code: DescOp): boolean {
  switch (code) {
    case DescOp.NOP: case DescOp.TIMEOUT: case DescOp.CANCEL: case DescOp.OPENAT: case DescOp.STATX:
    case DescOp.UNLINKAT: case DescOp.MKDIRAT: case DescOp.RENAMEAT: case DescOp.SYMLINKAT: case DescOp.LINKAT:
      return false;
    default:
      return true;
  }
}

/** The NUL-terminated path in a pinned view, or undefined. */
function pathOf(pin: unknown): string | undefined {
  if (!ArrayBuffer.isView(pin)) return undefined;
  const bytes = new Uint8Array(pin.buffer, pin.byteOffset, pin.byteLength);
  const nul = bytes.indexOf(0);
  if (nul < 0) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset, nul).toString('utf8');
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function isOffset(d: number, allowCurrent: boolean): boolean {
  if (allowCurrent && d === -1) return true;
  return d >= 0 && d <= Number.MAX_SAFE_INTEGER && Math.floor(d) === d;
}

function isMs(d: number): boolean {
  return Number.isFinite(d) && d >= 0;
}

/**
 * A Backend with no system calls. Pass it to `new Ring({ backend: mock })`
 * (or `setDefaultBackend(mock)` for code that uses `Ring.current()`).
 */
export class MockBackend implements Backend {
  readonly DESC_WORDS = DESC_WORDS;
  readonly STAGE_HEADER_WORDS = STAGE_HEADER_WORDS;
  readonly CQE_WORDS = CQE_WORDS;

  /** The PRNG seed: print it to replay a run (`new MockBackend({ seed })` or URINGKIT_MOCK_SEED). */
  readonly seed: number;
  readonly clock: MockClock;
  /** The in-memory file system (helpers for setup and assertions). */
  readonly fs: MockFs;
  readonly faults: FaultPlan;
  /** Every operation submitted (bounded by `logLimit`), with its result once complete. */
  readonly log: MockLogEntry[] = [];
  /** Operations that had neither a handler nor a built-in model (they failed with ENOSYS). */
  readonly unhandled: MockUnhandled[] = [];
  /** Errors thrown by handlers or fault `match` functions (the operation failed with EIO). */
  readonly errors: Error[] = [];
  /**
   * The socket set-up calls (socket, bind, listen, options, names, pipe) on
   * in-memory sockets: TcpListener, Socket.connect and UdpSocket run on the mock.
   */
  readonly sys: SyscallBackend;

  readonly #clock: MockClockImpl;
  readonly #prng: Prng;
  readonly #fds: FdTable;
  readonly #net: MockNet;
  readonly #fsModel: boolean;
  readonly #autoAdvance: boolean;
  readonly #logLimit: number;
  readonly #handlers = new Map<MockOpName, MockHandler>();
  readonly #rings = new Set<MockRing>();
  readonly #warned = new Set<string>();
  #ringIds = 0;
  #seq = 0;
  #flushing: MockRing | undefined;
  #wakeScheduled = false;
  #activity = 0;
  #autoScheduled = false;
  #autoSeen = -1;
  #autoIdle = 0;

  constructor(options: MockBackendOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('MockBackend options must be an object');
    const seed = options.seed ?? defaultSeed();
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`MockBackend: seed must be an integer in [0, 2^32), received ${seed}`);
    }
    this.seed = seed;
    this.#prng = new Prng(seed);
    const mode = options.clock ?? 'virtual';
    if (mode !== 'virtual' && mode !== 'real') throw new TypeError(`MockBackend: clock must be 'virtual' or 'real'`);
    this.#clock = new MockClockImpl(mode, options.epoch ?? Date.UTC(2024, 0, 1));
    this.#clock.settle = () => this.idle();
    this.#clock.sync = () => this.#syncRings();
    this.clock = this.#clock;
    this.#autoAdvance = options.autoAdvance === true;
    if (this.#autoAdvance && mode !== 'virtual') throw new TypeError('MockBackend: autoAdvance needs the virtual clock');
    this.#clock.onSchedule = () => this.#armAuto();
    this.#fsModel = options.fs !== false;
    this.fs = new MockFs(() => this.#clock.wallTime(), typeof options.fs === 'object' ? options.fs : {});
    this.#fds = new FdTable(options.fdBase ?? 3);
    this.#net = new MockNet({
      openFd: (sock, origin) => this.#openSock(sock, origin),
      changed: (sock) => this.#sockChanged(sock),
    });
    this.#net.writeAddr = (a, out) => {
      const b = bytesOfAddr(a);
      out.set(b.subarray(0, Math.min(b.length, out.length)));
    };
    this.sys = this.#makeSys();
    this.#logLimit = options.logLimit ?? 10_000;
    this.faults = new FaultPlan(this.#prng, (p) => this.fs.display(p));
    for (const f of options.faults ?? []) this.faults.add(f);
    for (const [name, h] of Object.entries(options.handlers ?? {})) {
      if (h !== undefined) this.handle(name as MockOpName, h);
    }
  }

  // ---- test API -----------------------------------------------------------------------------

  /**
   * Handles every `name` operation with `handler` instead of the built-in
   * model (call `req.default()` inside it to delegate). Returns the mock.
   */
  handle(name: MockOpName | 'close' | 'timeout' | 'stat', handler: MockHandler): this {
    const op = opName(name, 'mock.handle');
    if (typeof handler !== 'function') throw new TypeError(`mock.handle('${op}', handler): handler must be a function`);
    this.#handlers.set(op, handler);
    return this;
  }

  /** Removes a handler (the built-in model applies again). */
  unhandle(name: MockOpName | 'close' | 'timeout' | 'stat'): this {
    this.#handlers.delete(opName(name, 'mock.unhandle'));
    return this;
  }

  /**
   * Opens an fd whose poll readiness the test drives with setReady() (a
   * stand-in for a socket or pipe). Reads and writes on it need handlers.
   */
  openPollable(label = 'pollable'): number {
    return this.#fds.open('pollable', label, fsc.O_RDWR, undefined, 0, 0).fd;
  }

  /**
   * Sets the readiness mask of a mock fd (POLL.IN | POLL.OUT ...; 0 = not
   * ready). Pending polls whose events match complete (a multishot poll
   * yields one value per call). Files are ready for POLLIN | POLLOUT unless
   * set otherwise. Throws for an fd the mock does not know.
   */
  setReady(fd: number, mask: number): void {
    const e = this.#fds.get(fd);
    if (e === undefined) throw new Error(`mock.setReady: fd ${fd} is not open in this MockBackend`);
    if (!Number.isInteger(mask) || mask < 0) throw new RangeError(`mock.setReady: mask must be an integer >= 0`);
    e.ready = mask;
    for (const w of [...e.pollers] as PollWaiter[]) {
      const m = mask & (w.events | POLL_ALWAYS);
      if (m === 0) continue;
      if (w.multishot) this.#emit(w.op, m);
      else {
        e.pollers.delete(w);
        w.fire(m);
      }
    }
  }

  /**
   * Closes a mock fd synchronously (test cleanup, e.g. a pollable); pending
   * polls on it stay pending, as with io_uring. Returns whether it was open.
   */
  closeFd(fd: number): boolean {
    const e = this.#fds.close(fd);
    if (e === undefined) return false;
    if (e.sock !== undefined) {
      e.sock.fd = -1;
      this.#net.close(e.sock);
    }
    return true;
  }

  /** The fds open in the mock (files, directories, pollables), lowest first. */
  openFds(): MockOpenFd[] {
    return this.#fds.list().map((e) => ({ fd: e.fd, kind: e.kind, path: this.#label(e), flags: e.flags }));
  }

  /** Throws an Error listing every fd still open (with its path and the operation that opened it). */
  assertNoLeaks(): void {
    const open = this.#fds.list();
    if (open.length === 0) return;
    const lines = open.map((e) => `  fd ${e.fd}: ${e.kind} ${this.#label(e)}` +
      (e.origin !== undefined ? ` (opened by ${e.origin})`
        : e.openedBy > 0 ? ` (opened by open #${e.openedBy})` : ' (openPollable)'));
    throw new Error(`MockBackend: ${open.length} file descriptor${open.length === 1 ? '' : 's'} leaked ` +
      `(seed ${this.seed}):\n${lines.join('\n')}`);
  }

  /** The requests in flight (submitted, not yet completed), in submission order. */
  inFlight(): MockRequest[] {
    const out: Req[] = [];
    for (const r of this.#rings) for (const op of r.pending.values()) out.push(op.req);
    return out.sort((a, b) => a.seq - b.seq);
  }

  /**
   * Completes every operation in flight with -ECANCELED, uncancellable ones
   * included (cleanup of a test that left something hanging). Returns how
   * many it completed.
   */
  forceCancelAll(): number {
    let n = 0;
    for (const r of this.#rings) {
      for (const op of [...r.pending.values()]) {
        this.#complete(op, -E.ECANCELED, 'cancelled');
        n++;
      }
      for (const op of [...r.timers.values()]) this.#timerDone(op, -E.ECANCELED);
    }
    return n;
  }

  /** `mock.log` entries, optionally of one operation. */
  calls(name?: MockOpName): MockLogEntry[] {
    if (name === undefined) return [...this.log];
    const op = opName(name, 'mock.calls');
    return this.log.filter((e) => e.op === op);
  }

  /**
   * Resolves once the mock is quiet: every ready completion delivered and no
   * mock activity for two loop turns (bounded: at most 1000 turns).
   */
  async idle(): Promise<void> {
    let seen = -1;
    let quiet = 0;
    for (let i = 0; i < 1000 && quiet < 2; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      let busy = false;
      for (const r of this.#rings) if (r.queued > 0 || (r.stage[0] ?? 0) > 0) busy = true;
      if (busy || seen !== this.#activity) {
        quiet = 0;
        seen = this.#activity;
      } else quiet++;
    }
  }

  /** A multi-line account: seed, clock, open fds, operations in flight, faults, problems, recent log. */
  describe(): string {
    const c = this.#clock;
    const lines = [
      `MockBackend seed=${this.seed} clock=${c.mode} now=${c.now()}ms` +
        (this.#autoAdvance ? ' autoAdvance' : '') + ` pendingTimers=${c.pending()}`,
      `  replay: new MockBackend({ seed: ${this.seed} }) or URINGKIT_MOCK_SEED=${this.seed}`,
    ];
    const fds = this.#fds.list();
    lines.push(`  open fds (${fds.length})${fds.length ? ':' : ''}`);
    for (const e of fds) lines.push(`    ${e.fd}: ${e.kind} ${this.#label(e)}`);
    const inflight = this.inFlight();
    lines.push(`  in flight (${inflight.length})${inflight.length ? ':' : ''}`);
    for (const r of inflight) {
      lines.push(`    #${r.seq} ${r.op} fd=${r.fd}${r.path ? ` ${r.path}` : ''}${r.address ? ` ${r.address}` : ''}`);
    }
    const faults = this.faults.describe();
    if (faults.length) lines.push(`  faults:`, ...faults.map((f) => `    ${f}`));
    if (this.unhandled.length) lines.push(`  unhandled:`, ...this.unhandled.slice(0, 10).map((u) => `    ${u.message}`));
    if (this.errors.length) lines.push(`  handler errors:`, ...this.errors.slice(0, 10).map((e) => `    ${e.message}`));
    const recent = this.log.slice(-15);
    if (recent.length) {
      lines.push(`  last ${recent.length} operations:`);
      for (const e of recent) {
        const res = e.res === undefined ? 'in flight' : e.res < 0 ? errnoName(e.res) : String(e.res);
        lines.push(`    #${e.seq} t=${e.at}ms ${e.op} fd=${e.fd}${e.path ? ` ${e.path}` : ''} -> ${res}` +
          (e.fault !== undefined ? ` (fault #${e.fault})` : '') + (e.by !== undefined ? ` [${e.by}]` : ''));
      }
    }
    return lines.join('\n');
  }

  // ---- Backend -------------------------------------------------------------------------------

  create(entries: number, cqEntries: number, wantFlags: number, stage: Int32Array, out: Int32Array,
    stats: Float64Array, turn: Int32Array, onWake: () => void): BackendHandle | number {
    if (!(stage instanceof Int32Array) || !(out instanceof Int32Array) || !(stats instanceof Float64Array) ||
      !(turn instanceof Int32Array) || typeof onWake !== 'function') {
      throw new TypeError('MockBackend.create: stage/out/turn must be Int32Array, stats Float64Array, onWake a function');
    }
    if (!(entries >= 1 && entries <= 32768) || !(cqEntries >= entries && cqEntries <= 131072)) return -E.EINVAL;
    if (stage.length < STAGE_HEADER_WORDS + DESC_WORDS || turn.length < 3 || stats.length < NativeStat.COUNT) {
      return -E.EINVAL;
    }
    const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(n));
    const r = new MockRing(++this.#ringIds, stage, out, stats, turn, onWake, pow2(entries), pow2(cqEntries),
      wantFlags >>> 0);
    if (r.outCap < r.stageCap) throw new RangeError('MockBackend.create: out must hold a completion per staged record');
    stage.fill(0, 0, STAGE_HEADER_WORDS);
    this.#rings.add(r);
    return r as unknown as BackendHandle;
  }

  info(h: BackendHandle): [number, number, number, number, number] {
    const r = this.#ring(h);
    // IORING_FEAT_NODROP | SUBMIT_STABLE | RW_CUR_POS | FAST_POLL | POLL_32BITS | EXT_ARG
    const features = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 8);
    return [r.setupFlags, features, r.sqEntries, r.cqEntries, -1];
  }

  probe(h: BackendHandle): Uint8Array {
    this.#ring(h);
    const p = new Uint8Array(256);
    const ops = [IORING_OP.NOP, 1 /* READV */, 2 /* WRITEV */, 3 /* FSYNC */, IORING_OP.POLL_ADD, IORING_OP.TIMEOUT,
      IORING_OP.ASYNC_CANCEL, IORING_OP.LINK_TIMEOUT, IORING_OP.FALLOCATE, IORING_OP.OPENAT, IORING_OP.CLOSE,
      IORING_OP.STATX, IORING_OP.READ, IORING_OP.WRITE, IORING_OP.FADVISE, IORING_OP.RENAMEAT, IORING_OP.UNLINKAT,
      IORING_OP.MKDIRAT, IORING_OP.SYMLINKAT, IORING_OP.LINKAT, IORING_OP.FTRUNCATE,
      // In-memory sockets (net.ts). Not SEND_ZC (nor provided-buffer rings): sockets receive with one-shot recv.
      IORING_OP.ACCEPT, IORING_OP.CONNECT, IORING_OP.SEND, IORING_OP.RECV, IORING_OP.SENDMSG, IORING_OP.RECVMSG,
      IORING_OP.SHUTDOWN];
    for (const op of ops) p[op] = 1;
    if (this.#handlers.has('splice')) p[IORING_OP.SPLICE] = 1;
    if (this.#handlers.has('sendZc')) p[IORING_OP.SEND_ZC] = 1;
    return p;
  }

  flush(h: BackendHandle, pins?: unknown[]): number {
    const r = this.#ring(h);
    const stage = r.stage;
    const count = Math.min(stage[0]!, r.stageCap);
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
    stage[0] = r.stageCap;
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
        stage.copyWithin(STAGE_HEADER_WORDS, STAGE_HEADER_WORDS + i * DESC_WORDS,
          STAGE_HEADER_WORDS + count * DESC_WORDS);
      }
      stage[0] = count - i;
      stage[2] = err;
    }
    return this.#deliver(r);
  }

  reap(h: BackendHandle): number {
    return this.#deliver(this.#ring(h));
  }

  setRef(h: BackendHandle, on: boolean): void {
    const r = this.#ring(h);
    r.turn[2] = on ? 1 : 0;
    if (on) {
      // The loop stays alive while the ring is ref'd; the un-ref is lazy, as
      // native's uv_prepare hook: on a later wake-up or this check.
      r.keepalive ??= setInterval(() => {
        if (r.turn[1] === 0) this.#release(r);
      }, 50);
    } else {
      this.#release(r);
    }
  }

  destroy(h: BackendHandle): void {
    const r = this.#ring(h);
    r.destroyed = true;
    this.#release(r);
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
    this.#rings.delete(r);
  }

  // ---- internals: rings, wake-ups, liveness ------------------------------------------------------

  #ring(h: BackendHandle): MockRing {
    const r = h as unknown as MockRing;
    if (!(r instanceof MockRing) || !this.#rings.has(r)) {
      if (r instanceof MockRing && r.destroyed) {
        throw Object.assign(new Error('the ring is closed'), { code: 'ERR_RING_CLOSED' });
      }
      throw Object.assign(new TypeError('invalid ring handle (not a ring of this MockBackend)'),
        { code: 'ERR_INVALID_ARG_TYPE' });
    }
    return r;
  }

  /** Has every ring submit what it has staged (Ring's drive: flush, dispatch; a no-op while it is driving). */
  #syncRings(): void {
    for (const r of [...this.#rings]) {
      if (!r.destroyed && (r.stage[0] ?? 0) > 0) r.onWake();
    }
  }

  #release(r: MockRing): void {
    if (r.keepalive !== undefined) clearInterval(r.keepalive);
    r.keepalive = undefined;
    r.turn[2] = 0;
  }

  #scheduleWake(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(this.#pump);
  }

  /** One loop turn of the mock: count it, apply a lazy un-ref, wake rings with completions ready. */
  readonly #pump = (): void => {
    this.#wakeScheduled = false;
    for (const r of [...this.#rings]) {
      if (r.destroyed) continue;
      r.turn[0] = (r.turn[0]! + 1) | 0;
      if (r.turn[2] === 1 && r.turn[1] === 0) this.#release(r);
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
    if (!this.#autoAdvance || this.#autoScheduled || this.#clock.pending() === 0) return;
    this.#autoScheduled = true;
    let wanted = false;
    for (const r of this.#rings) if (r.turn[1] === 1 || r.turn[2] === 1) wanted = true;
    // Keep the loop alive only for what a ring keeps alive (unref'd sleeps let the process exit).
    if (wanted) setImmediate(this.#autoTick);
    else setTimeout(this.#autoTick, 1).unref();
  }

  readonly #autoTick = (): void => {
    this.#autoScheduled = false;
    if (this.#clock.pending() === 0) return;
    let busy = this.#wakeScheduled;
    for (const r of this.#rings) if (r.queued > 0 || (r.stage[0] ?? 0) > 0) busy = true;
    if (busy || this.#autoSeen !== this.#activity) {
      this.#autoSeen = this.#activity;
      this.#autoIdle = 0;
    } else if (++this.#autoIdle >= 2) {
      this.#autoIdle = 0;
      this.#clock.next();
    }
    this.#armAuto();
  };

  // ---- internals: completions ------------------------------------------------------------------

  #post(r: MockRing, slot: number, hi: number, res: number, flags: number): void {
    r.ready.push(slot, hi, res | 0, flags);
    if (r.queued > r.cqEntries && !r.overflowing) {
      // A full CQ: the kernel (FEAT_NODROP) parks the CQE and sets IORING_SQ_CQ_OVERFLOW.
      r.overflowing = true;
      r.stats[NativeStat.CQ_OVERFLOWS]! += 1;
    }
    this.#activity++;
    if (this.#flushing !== r) this.#scheduleWake();
  }

  #deliver(r: MockRing): number {
    const avail = r.queued;
    const n = Math.min(avail, r.outCap);
    if (n > 0) {
      const out = r.out;
      const ready = r.ready;
      let h = r.readyHead;
      for (let k = 0; k < n * 4; k++) out[k] = ready[h++]!;
      r.readyHead = h;
      if (h === ready.length) {
        r.ready = [];
        r.readyHead = 0;
        r.overflowing = false;
      } else if (h > 4096) {
        r.ready = ready.slice(h);
        r.readyHead = 0;
      }
      r.stats[NativeStat.REAP_BATCHES]! += 1;
      this.#activity++;
    }
    // More to deliver, or a lazy un-ref to check once this batch has been dispatched.
    if (avail > n || r.turn[2] === 1) this.#scheduleWake();
    return n;
  }

  /** The operation's final CQE (and its linked timeout's). Idempotent. */
  #complete(op: Op, res: number, by?: string, linkRes = -E.ECANCELED): void {
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
      this.#post(r, op.slot, op.hi, res, IORING_CQE_F_MORE);
      this.#notifyZc(r, op.slot, op.hi, op.notify);
    } else this.#post(r, op.slot, op.hi, res, 0);
    // A linked timeout ends with its operation; a separate timer stays armed
    // until it fires or Ring cancels it (a kind-1 CANCEL).
    if (op.link && !op.separate) this.#post(r, op.slot, (op.hi & ~3) | Kind.LINK_TIMEOUT, linkRes, 0);
  }

  /** A separate deadline timer's CQE (-ETIME fired, -ECANCELED removed). */
  #timerDone(op: Op, res: number): void {
    const r = op.ring;
    if (r.timers.get(op.slot) !== op) return;
    r.timers.delete(op.slot);
    op.linkTimer?.cancel();
    op.linkTimer = undefined;
    if (!r.destroyed) this.#post(r, op.slot, (op.hi & ~3) | Kind.LINK_TIMEOUT, res, 0);
  }

  /** A multishot operation's intermediate CQE (IORING_CQE_F_MORE). */
  #emit(op: Op, res: number): void {
    if (op.done || op.ring.destroyed) return;
    if (!op.multishot) throw new Error(`mock: emit() is for multishot operations (${op.req.op} is not one)`);
    this.#post(op.ring, op.slot, op.hi, res, IORING_CQE_F_MORE);
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
      this.#post(r, slot, (hi & ~3) | Kind.CANCEL, res, 0);
      return;
    }
    const t = r.pending.get(targetSlot);
    if (t === undefined || t.hi !== targetHi || t.done) res = -E.ENOENT;
    else if (t.uncancellable) res = -E.EALREADY;
    else {
      this.#complete(t, -E.ECANCELED, 'cancelled');
      res = 0;
    }
    this.#post(r, slot, (hi & ~3) | Kind.CANCEL, res, 0);
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
      this.#post(op.ring, op.slot, (op.hi & ~3) | Kind.LINK_TIMEOUT, -E.EALREADY, 0);
      return;
    }
    this.#complete(op, -E.ECANCELED, 'timeout', -E.ETIME);
  }

  // ---- internals: submission --------------------------------------------------------------------

  /** Takes record `i`. Returns false when a `busy` fault refuses it (it stays staged). */
  #submit(r: MockRing, i: number, pin: unknown): boolean {
    const base = STAGE_HEADER_WORDS + i * DESC_WORDS;
    const s = r.stage;
    const word0 = s[base]!;
    const code = word0 & 0xff;
    const flags = (word0 >>> 8) & 0xff;
    const slot = s[base + 1]!;
    const hi = s[base + 2]!;
    const fd = s[base + 3]!;
    const arg0 = s[base + 4]!;
    const arg1 = s[base + 5]!;
    if (code === DescOp.CANCEL) {
      r.stats[NativeStat.SQES]! += 1;
      this.#cancel(r, slot, hi, arg0, arg1);
      return true;
    }
    if (code === DESC_PBUF_RECYCLE) return true; // returns a provided buffer: no SQE, no CQE
    const link = (flags & DescFlag.LINK_TIMEOUT) !== 0;
    const separate = link && (flags & DescFlag.SEPARATE_TIMER) !== 0;
    const linkMs = link ? r.f64(base + 8) : 0;
    const req = new Req(code <= LAST_DESC_OP ? nameOf(code, arg0) : 'nop', fd);
    let invalid = 0;
    if (code > LAST_DESC_OP || (hi & 3) !== Kind.OP || slot < 0) invalid = -E.EINVAL;
    else if (link && !isMs(linkMs)) invalid = -E.EINVAL;
    else if (needsFd(code) && fd < 0) invalid = -E.EBADF;
    else invalid = this.#decode(r, req, code, base, pin);
    if (invalid === 0) {
      const busy = this.#pickFault(req, 'submit');
      if (busy !== undefined) return false;
    }
    r.stats[NativeStat.SQES]! += link ? 2 : 1;
    req.seq = ++this.#seq;
    if (link) req.timeout = linkMs;
    const log: MockLogEntry = { seq: req.seq, op: req.op, fd, at: this.#clock.now() };
    if (req.path !== undefined) (log as { path?: string }).path = req.path;
    this.log.push(log);
    if (this.log.length > this.#logLimit) this.log.splice(0, this.log.length - this.#logLimit);
    const op: Op = {
      ring: r, slot, hi, code, req, log, link, separate, linkMs,
      multishot: code === DescOp.POLL_MULTI || code === DescOp.RECV_MULTI ||
        (code === DescOp.ACCEPT && (arg1 & 1) !== 0), done: false,
      uncancellable: false, fault: undefined, timer: undefined, linkTimer: undefined, waiter: undefined,
      detach: undefined,
    };
    req.runDefault = () => this.#runDefault(op);
    req.runEmit = (res) => this.#emit(op, res);
    r.pending.set(slot, op);
    if (invalid !== 0) {
      if (separate) this.#post(r, slot, (hi & ~3) | Kind.LINK_TIMEOUT, -E.ECANCELED, 0); // no timer was armed
      this.#complete(op, invalid, 'invalid');
      return true;
    }
    if (separate) {
      // Armed with the operation, as its own TIMEOUT SQE: it outlives an operation that completes first.
      r.timers.set(slot, op);
      op.linkTimer = this.#clock.schedule(linkMs, () => this.#linkFired(op));
    }
    const fault = this.#pickFault(req, 'op');
    this.#start(op, fault);
    return true;
  }

  /** Fills the request from the record and its pin; returns 0 or -errno (as C's validation). */
  #decode(r: MockRing, req: Req, code: DescOp, base: number, pin: unknown): number {
    const s = r.stage;
    const arg0 = s[base + 4]!;
    const arg1 = s[base + 5]!;
    const position = r.f64(base + 10);
    const second = r.f64(base + 12);
    const length = s[base + 14]! >>> 0;
    switch (code) {
      case DescOp.TIMEOUT:
        req.ms = r.f64(base + 6);
        return isMs(req.ms) ? 0 : -E.EINVAL;
      case DescOp.POLL:
      case DescOp.POLL_MULTI:
        req.flags = arg0 >>> 0;
        return 0;
      case DescOp.READ:
      case DescOp.WRITE: {
        if (!ArrayBuffer.isView(pin)) return -E.EINVAL;
        if (!isOffset(second, false) || second + length > pin.byteLength) return -E.EFAULT;
        if (!isOffset(position, true)) return -E.EINVAL;
        req.buffer = new Uint8Array(pin.buffer, pin.byteOffset + second, length);
        req.position = position;
        req.length = length;
        return 0;
      }
      case DescOp.READV:
      case DescOp.WRITEV: {
        if (!Array.isArray(pin) || pin.length === 0 || pin.length > 1024) return -E.EINVAL;
        const views: Uint8Array[] = [];
        for (const v of pin) {
          if (!ArrayBuffer.isView(v)) return -E.EINVAL;
          views.push(bytesOf(v));
        }
        if (!isOffset(position, true)) return -E.EINVAL;
        req.buffers = views;
        req.position = position;
        req.length = views.reduce((n, v) => n + v.length, 0);
        return 0;
      }
      case DescOp.FSYNC:
        req.flags = arg0 & 1;
        return 0;
      case DescOp.FALLOCATE:
      case DescOp.FADVISE:
      case DescOp.FTRUNCATE:
        if (!isOffset(position, false) || !isOffset(second, false)) return -E.EINVAL;
        req.mode = arg0;
        req.position = position;
        req.length = second;
        return 0;
      case DescOp.SPLICE:
        if (!isOffset(position, true) || !isOffset(second, true)) return -E.EINVAL;
        if (arg0 < 0) return -E.EBADF;
        req.position = position;
        req.length = length;
        req.flags = arg1;
        req.mode = arg0; // fd_out
        return 0;
      case DescOp.OPENAT:
      case DescOp.UNLINKAT:
      case DescOp.MKDIRAT: {
        const p = pathOf(pin);
        if (p === undefined) return -E.EINVAL;
        req.path = p;
        req.flags = code === DescOp.MKDIRAT ? 0 : arg0;
        req.mode = code === DescOp.UNLINKAT ? 0 : arg1;
        return 0;
      }
      case DescOp.STATX: {
        if (!Array.isArray(pin)) return -E.EINVAL;
        const p = pathOf(pin[0]);
        const out: unknown = pin[1];
        if (p === undefined || !ArrayBuffer.isView(out) || out.byteLength < 256) return -E.EINVAL;
        req.path = p;
        req.flags = arg0;
        req.mode = arg1; // the STATX_* mask
        req.statOut = bytesOf(out);
        return 0;
      }
      case DescOp.RENAMEAT:
      case DescOp.SYMLINKAT:
      case DescOp.LINKAT: {
        if (!Array.isArray(pin)) return -E.EINVAL;
        const p1 = pathOf(pin[0]);
        const p2 = pathOf(pin[1]);
        if (p1 === undefined || p2 === undefined) return -E.EINVAL;
        req.path = p1;
        req.dest = p2;
        req.flags = code === DescOp.SYMLINKAT ? 0 : arg1;
        return 0;
      }
      case DescOp.CONNECT: {
        if (!ArrayBuffer.isView(pin)) return -E.EINVAL;
        const a = addrOf(bytesOf(pin), arg0 >>> 0);
        if (typeof a === 'number') return a;
        req.sockaddr = a;
        req.address = formatAddr(a);
        return 0;
      }
      case DescOp.SEND:
      case DescOp.RECV:
      case DescOp.SEND_ZC:
      case DescOp.SENDMSG:
      case DescOp.RECVMSG: {
        const msg = code === DescOp.SENDMSG || code === DescOp.RECVMSG;
        const view: unknown = msg ? (Array.isArray(pin) ? pin[0] : undefined) : pin;
        if (!ArrayBuffer.isView(view)) return -E.EINVAL;
        if (!isOffset(second, false) || second + length > view.byteLength) return -E.EFAULT;
        req.buffer = new Uint8Array(view.buffer, view.byteOffset + second, length);
        req.length = length;
        req.flags = arg0;
        if (msg) {
          const sa: unknown = (pin as unknown[])[1];
          if (code === DescOp.SENDMSG && sa !== null && sa !== undefined && arg1 > 0) {
            if (!ArrayBuffer.isView(sa)) return -E.EINVAL;
            const a = addrOf(bytesOf(sa), arg1 >>> 0);
            if (typeof a === 'number') return a;
            req.sockaddr = a;
            req.address = formatAddr(a);
          } else if (code === DescOp.RECVMSG) {
            if (!ArrayBuffer.isView(sa) || sa.byteLength < 128) return -E.EINVAL;
            req.addrOut = bytesOf(sa);
          }
        }
        return 0;
      }
      default:
        req.flags = arg0;
        req.mode = arg1;
        return 0;
    }
  }

  #pickFault(req: Req, phase: 'submit' | 'op'): FaultRule | undefined {
    try {
      return this.faults.pick(req, phase);
    } catch (e) {
      this.#recordError(e, `a fault's match() threw for ${req.op}`);
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
      op.timer = this.#clock.schedule(delay, () => {
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
      op.linkTimer = this.#clock.schedule(op.linkMs, () => this.#linkFired(op));
    }
  }

  /** An injected errno. ECONNRESET on a connected stream socket also resets the connection (both sides see it). */
  #fail(op: Op, errno: number): void {
    if (errno === E.ECONNRESET && op.code !== DescOp.CONNECT) {
      const sock = this.#fds.get(op.req.fd)?.sock;
      if (sock !== undefined) this.#net.reset(sock);
    }
    this.#complete(op, -errno, 'fault');
  }

  /** A short read or write: the request asks for fewer bytes. */
  #shorten(req: Req, fault: FaultRule): void {
    if (req.buffer !== undefined && (req.op === 'read' || req.op === 'write' || req.op === 'send' ||
      req.op === 'recv' || req.op === 'sendmsg' || req.op === 'recvmsg')) {
      const n = this.faults.shortLength(fault, req.buffer.length);
      req.buffer = req.buffer.subarray(0, n);
      req.length = n;
    } else if (req.buffers !== undefined) {
      let left = this.faults.shortLength(fault, req.length);
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

  #execute(op: Op): void {
    if (op.done) return;
    const handler = this.#handlers.get(op.req.op);
    if (handler !== undefined) {
      op.log.by = 'handler';
      this.#runHandler(op, handler);
      return;
    }
    const res = this.#model(op, (v) => this.#complete(op, v, 'model'));
    if (res === PENDING) return;
    if (typeof res === 'object') {
      this.#unhandled(op, res.noModel);
      return;
    }
    this.#complete(op, res, 'model');
  }

  #unhandled(op: Op, detail: string): void {
    const req = op.req;
    const message = `no mock handler for ${req.op}${detail ? ` (${detail})` : ''}: ` +
      `register one with mock.handle('${req.op}', (req) => ...)`;
    this.unhandled.push({ op: req.op, seq: req.seq, fd: req.fd, path: req.path, message });
    if (!this.#warned.has(req.op)) {
      this.#warned.add(req.op);
      process.emitWarning(message, { code: 'URINGKIT_MOCK_UNHANDLED' });
    }
    this.#complete(op, -E.ENOSYS, 'unhandled');
  }

  #recordError(e: unknown, context: string): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const wrapped = new Error(`${context}: ${err.message}`, { cause: err });
    this.errors.push(wrapped);
    process.emitWarning(wrapped.message, { code: 'URINGKIT_MOCK_HANDLER_ERROR' });
  }

  #runHandler(op: Op, handler: MockHandler): void {
    if (op.done) return;
    let out: MockResult | Promise<MockResult>;
    try {
      out = handler(op.req);
    } catch (e) {
      this.#handlerFailed(op, e);
      return;
    }
    if (out !== null && typeof out === 'object' && typeof (out as Promise<MockResult>).then === 'function') {
      (out as Promise<MockResult>).then((v) => this.#applyResult(op, v), (e: unknown) => this.#handlerFailed(op, e));
    } else {
      this.#applyResult(op, out as MockResult);
    }
  }

  #handlerFailed(op: Op, e: unknown): void {
    if (op.done) return;
    const code = (e as { code?: unknown } | null)?.code;
    const errno = (e as { errno?: unknown } | null)?.errno;
    if (typeof code === 'string' && typeof (E as Record<string, number | undefined>)[code] === 'number') {
      this.#complete(op, -(E as Record<string, number>)[code]!, 'handler');
    } else if (typeof errno === 'number' && Number.isInteger(errno) && errno < 0) {
      this.#complete(op, errno, 'handler');
    } else {
      this.#recordError(e, `mock handler for ${op.req.op} (#${op.req.seq}) threw`);
      this.#complete(op, -E.EIO, 'handler');
    }
  }

  #applyResult(op: Op, v: MockResult): void {
    if (op.done) return;
    this.#activity++;
    let res: number;
    let delay: number | undefined;
    let notify: Promise<unknown> | undefined;
    try {
      if (v === undefined || v === null) res = 0;
      else if (typeof v === 'number') {
        if (!Number.isFinite(v)) throw new RangeError(`result must be a finite number, received ${v}`);
        res = Math.trunc(v);
      } else if (typeof v === 'string' || v instanceof Uint8Array) res = this.#copyIn(op, v);
      else if (typeof v === 'object') {
        const reply = v as MockReply;
        if (reply.uncancellable === true) op.uncancellable = true;
        if (reply.errno !== undefined) res = -errnoNumber(reply.errno, 'reply.errno');
        else {
          res = reply.data !== undefined ? this.#copyIn(op, reply.data) : 0;
          if (reply.res !== undefined) res = Math.trunc(reply.res);
        }
        if (reply.stat !== undefined) this.#fillStat(op, reply.stat);
        delay = reply.delay;
        notify = reply.notify;
      } else throw new TypeError(`unexpected result ${String(v)}`);
    } catch (e) {
      this.#recordError(e, `mock handler for ${op.req.op} (#${op.req.seq}) returned an invalid result`);
      this.#complete(op, -E.EIO, 'handler');
      return;
    }
    if (op.req.op === 'sendZc') op.notify = notify ?? true;
    if (delay !== undefined && delay > 0) {
      if (delay === Infinity) return; // until cancelled or its deadline
      op.timer = this.#clock.schedule(delay, () => {
        op.timer = undefined;
        this.#complete(op, res, 'handler');
      });
      return;
    }
    this.#complete(op, res, 'handler');
  }

  /**
   * A zero-copy send's notification CQE (IORING_CQE_F_NOTIF, no F_MORE):
   * the kernel no longer reads the buffer. Posted when `when` settles.
   */
  #notifyZc(r: MockRing, slot: number, hi: number, when: Promise<unknown> | true): void {
    const post = (): void => {
      if (!r.destroyed) this.#post(r, slot, hi, 0, IORING_CQE_F_NOTIF);
    };
    if (when === true) post();
    else when.then(post, post);
  }

  /** Copies a handler's data into the read buffer(s); returns the byte count. */
  #copyIn(op: Op, data: string | Uint8Array): number {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const req = op.req;
    const views = req.buffer !== undefined ? [req.buffer] : req.buffers ?? [];
    if (op.req.op !== 'read' && op.req.op !== 'readv' && op.req.op !== 'recv' && op.req.op !== 'recvmsg') {
      return bytes.length;
    }
    let done = 0;
    for (const v of views) {
      if (done >= bytes.length) break;
      const n = Math.min(v.length, bytes.length - done);
      v.set(bytes.subarray(done, done + n));
      done += n;
    }
    return done;
  }

  #fillStat(op: Op, init: MockStatInit): void {
    const out = op.req.statOut;
    if (out === undefined) return;
    const nowNs = BigInt(Math.round((init.mtimeMs ?? this.#clock.wallTime()) * 1000)) * 1000n;
    const node = new Inode(init.ino ?? 1, init.type ?? 'file', init.mode ?? 0o644, init.uid ?? 0, init.gid ?? 0, nowNs);
    node.size = init.size ?? 0;
    if (init.nlink !== undefined) node.nlink = init.nlink;
    this.fs.fillStatx(node, out);
    if (init.size !== undefined) new DataView(out.buffer, out.byteOffset, 256).setBigUint64(40, BigInt(init.size), true);
  }

  #runDefault(op: Op): number | Promise<number> {
    let resolve: ((v: number) => void) | undefined;
    let early: number | undefined;
    const res = this.#model(op, (v) => {
      if (resolve !== undefined) resolve(v);
      else early = v;
    });
    if (typeof res === 'object') throw new Error(`no built-in mock model for ${op.req.op}${res.noModel ? ` (${res.noModel})` : ''}`);
    if (res !== PENDING) return res;
    if (early !== undefined) return early;
    return new Promise<number>((r) => (resolve = r));
  }

  // ---- internals: the built-in models ----------------------------------------------------------------

  /** The built-in model: a result, PENDING (finish() is called later) or { noModel }. */
  #model(op: Op, finish: (res: number) => void): ModelResult {
    const req = op.req;
    switch (op.code) {
      case DescOp.NOP:
        return 0;
      case DescOp.TIMEOUT:
        op.timer = this.#clock.schedule(req.ms, () => {
          op.timer = undefined;
          finish(-E.ETIME);
        });
        return PENDING;
      case DescOp.POLL:
      case DescOp.POLL_MULTI:
        return this.#poll(op, finish);
      case DescOp.CLOSE: {
        const e = this.#fds.get(req.fd);
        if (!this.#fsModel && (e === undefined || e.sock === undefined)) return { noModel: 'the file system model is off' };
        return this.closeFd(req.fd) ? 0 : -E.EBADF;
      }
      case DescOp.SPLICE:
        return { noModel: 'splice has no built-in model' };
      case DescOp.MSG_RING:
        return { noModel: 'ring-to-ring messages have no built-in model' };
      default:
        break;
    }
    if (op.code > LAST_FILE_OP || op.code === DescOp.READ || op.code === DescOp.WRITE) {
      const e = this.#fds.get(req.fd);
      if (e?.sock !== undefined) return this.#sockOp(op, e.sock, finish);
      if (op.code > LAST_FILE_OP) {
        if (op.code === DescOp.SEND_ZC || op.code === DescOp.RECV_MULTI) return { noModel: `${req.op} has no built-in model` };
        if (e === undefined) return -E.EBADF;
        // A pollable stands in for a socket the test models with handlers.
        if (e.kind === 'pollable') return { noModel: `fd ${e.fd} is a pollable fd, not a mock socket` };
        return -E.ENOTSOCK;
      }
    }
    if (!this.#fsModel) return { noModel: 'the file system model is off' };
    const fs = this.fs;
    switch (op.code) {
      case DescOp.OPENAT: {
        const node = fs.sysOpen(req.path!, req.flags, req.mode);
        if (typeof node === 'number') return node;
        const kind = node.type === 'directory' ? 'directory' : 'file';
        return this.#fds.open(kind, fs.display(req.path!), req.flags, node, FILE_READY, req.seq).fd;
      }
      case DescOp.STATX: {
        let node: Inode | number;
        if ((req.flags & AT_EMPTY_PATH) !== 0 && req.path === '') {
          const e = this.#fds.get(req.fd);
          if (e === undefined) return -E.EBADF;
          if (e.node === undefined) return { noModel: `fd ${req.fd} is a ${e.kind}` };
          node = e.node;
        } else {
          node = fs.sysLookup(this.#atPath(req.fd, req.path!), (req.flags & AT_SYMLINK_NOFOLLOW) === 0);
        }
        if (typeof node === 'number') return node;
        fs.fillStatx(node, req.statOut!);
        return 0;
      }
      case DescOp.UNLINKAT:
        return fs.sysUnlink(req.path!, (req.flags & AT_REMOVEDIR) !== 0);
      case DescOp.MKDIRAT:
        return fs.sysMkdir(req.path!, req.mode);
      case DescOp.RENAMEAT:
        return fs.sysRename(req.path!, req.dest!, req.flags);
      case DescOp.SYMLINKAT:
        return fs.sysSymlink(req.path!, req.dest!);
      case DescOp.LINKAT:
        return fs.sysLink(req.path!, req.dest!);
      default:
        break;
    }
    // Operations on an fd.
    const e = this.#fds.get(req.fd);
    if (e === undefined) return -E.EBADF;
    const acc = e.flags & 3;
    switch (op.code) {
      case DescOp.READ:
      case DescOp.READV: {
        if (e.kind === 'pollable') return { noModel: `fd ${e.fd} is a pollable fd` };
        if (acc === fsc.O_WRONLY) return -E.EBADF;
        if (e.kind === 'directory') return -E.EISDIR;
        const pos = req.position === -1 ? e.pos : req.position;
        const n = fs.sysRead(e.node!, req.buffer !== undefined ? [req.buffer] : req.buffers!, pos);
        if (req.position === -1) e.pos = pos + n;
        return n;
      }
      case DescOp.WRITE:
      case DescOp.WRITEV: {
        if (e.kind === 'pollable') return { noModel: `fd ${e.fd} is a pollable fd` };
        if (acc === fsc.O_RDONLY || e.kind === 'directory') return -E.EBADF;
        const node = e.node!;
        const pos = (e.flags & fsc.O_APPEND) !== 0 ? node.size : req.position === -1 ? e.pos : req.position;
        const n = fs.sysWrite(node, req.buffer !== undefined ? [req.buffer] : req.buffers!, pos);
        if (n >= 0 && req.position === -1) e.pos = pos + n;
        return n;
      }
      case DescOp.FSYNC:
        return e.kind === 'pollable' ? -E.EINVAL : 0;
      case DescOp.FADVISE:
        return e.kind === 'pollable' ? -E.ESPIPE : 0;
      case DescOp.FALLOCATE:
        if (e.kind === 'pollable') return -E.ENODEV;
        if (acc === fsc.O_RDONLY || e.kind === 'directory') return -E.EBADF;
        return fs.sysFallocate(e.node!, req.mode, req.position, req.length);
      case DescOp.FTRUNCATE:
        if (e.kind !== 'file' || acc === fsc.O_RDONLY) return -E.EINVAL;
        return fs.sysTruncate(e.node!, req.position);
      default:
        return { noModel: '' };
    }
  }

  // ---- internals: sockets ----------------------------------------------------------------------

  #label(e: FdEntry): string {
    return e.sock !== undefined ? e.sock.describe() : e.path;
  }

  #openSock(sock: MockSocket, origin: string): number {
    const e = this.#fds.open(sock.type === 'pipe' ? 'pipe' : 'socket', '', fsc.O_RDWR, undefined, 0, 0);
    e.sock = sock;
    e.origin = origin;
    sock.fd = e.fd;
    e.ready = this.#net.readiness(sock);
    this.#activity++;
    return e.fd;
  }

  #sockChanged(sock: MockSocket): void {
    const e = this.#fds.get(sock.fd);
    if (e === undefined || e.sock !== sock) return;
    const mask = this.#net.readiness(sock);
    if (mask !== e.ready) this.setReady(e.fd, mask);
  }

  #makeSys(): SyscallBackend {
    const net = this.#net;
    const sockOf = (fd: number): MockSocket | number => {
      const e = this.#fds.get(fd);
      if (e === undefined) return -E.EBADF;
      return e.sock ?? -E.ENOTSOCK;
    };
    const int = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v);
    return {
      socket: (domain, type) => {
        if (!int(domain) || !int(type)) return -E.EINVAL;
        const s = net.socket(domain, type);
        return typeof s === 'number' ? s : this.#openSock(s, `socket(${s.kindName})`);
      },
      bind: (fd, sockaddr, len) => {
        const s = sockOf(fd);
        if (typeof s === 'number') return s;
        if (!ArrayBuffer.isView(sockaddr) || !int(len)) return -E.EINVAL;
        const a = addrOf(bytesOf(sockaddr), len);
        return typeof a === 'number' ? a : net.bind(s, a);
      },
      listen: (fd, backlog) => {
        const s = sockOf(fd);
        return typeof s === 'number' ? s : net.listen(s, backlog);
      },
      setsockopt: (fd, level, name, value) => {
        const s = sockOf(fd);
        return typeof s === 'number' ? s : net.setsockopt(s, level, name, value);
      },
      setlinger: (fd, on, seconds) => {
        const s = sockOf(fd);
        return typeof s === 'number' ? s : net.setlinger(s, on, seconds);
      },
      getsockopt: (fd, level, name) => {
        const s = sockOf(fd);
        return typeof s === 'number' ? [s, false] : net.getsockopt(s, level, name);
      },
      sockname: (fd, peer) => {
        const s = sockOf(fd);
        if (typeof s === 'number') return s;
        const a = net.sockname(s, peer);
        return typeof a === 'number' ? a : Buffer.from(bytesOfAddr(a));
      },
      sockaddrEncode: encodeSockaddr,
      sockaddrDecode: decodeSockaddr,
      pipe: (size) => {
        const [r, w] = net.pipe(size);
        return [this.#openSock(r, 'pipe()'), this.#openSock(w, 'pipe()')];
      },
      setAffinity: () => 0,
    };
  }

  /** A ring operation on a socket or pipe fd. */
  #sockOp(op: Op, sock: MockSocket, finish: (res: number) => void): ModelResult {
    const req = op.req;
    const w: NetWaiter = {
      view: req.buffer ?? new Uint8Array(0), flags: req.flags, addrOut: req.addrOut, dest: req.sockaddr,
      multishot: op.multishot, finish, more: (res) => this.#emit(op, res),
    };
    const net = this.#net;
    let r: number | typeof NET_PENDING;
    switch (op.code) {
      case DescOp.ACCEPT: r = net.accept(sock, w); break;
      case DescOp.CONNECT: r = net.connect(sock, req.sockaddr!, w); break;
      case DescOp.SEND: case DescOp.SENDMSG: case DescOp.WRITE: r = net.send(sock, w); break;
      case DescOp.RECV: case DescOp.RECVMSG: case DescOp.READ: r = net.recv(sock, w); break;
      case DescOp.SHUTDOWN: return net.shutdown(sock, req.flags);
      default: return { noModel: `${req.op} on a ${sock.kindName} socket` };
    }
    if (r !== NET_PENDING) return r;
    op.detach = () => net.forget(sock, w);
    return PENDING;
  }

  /** A path relative to a directory fd (AT_FDCWD: the mock's cwd). */
  #atPath(dirfd: number, p: string): string {
    if (p.startsWith('/') || dirfd === AT_FDCWD) return p;
    const e = this.#fds.get(dirfd);
    return e !== undefined && e.kind === 'directory' ? `${e.path}/${p}` : p;
  }

  #poll(op: Op, finish: (res: number) => void): ModelResult {
    const req = op.req;
    const e = this.#fds.get(req.fd);
    if (e === undefined) return -E.EBADF;
    const events = req.flags;
    const mask = e.ready & (events | POLL_ALWAYS);
    if (mask !== 0 && !op.multishot) return mask;
    const waiter: PollWaiter = { op, entry: e, events, multishot: op.multishot, fire: finish };
    e.pollers.add(waiter);
    op.waiter = waiter;
    if (mask !== 0) this.#emit(op, mask);
    return PENDING;
  }
}
