/**
 * MockBackend: the Backend protocol (src/backend/backend.ts) implemented in
 * JavaScript with no system calls. It consumes the same descriptor records
 * the io_uring addon consumes and posts the same completion records, so Ring
 * and everything built on it (File, readFile, sockets, TaskGroup, Notifier,
 * Channel, ring messages) run unchanged on top of:
 *
 *  - an in-memory file system (`mock.fs`), in-memory sockets (`mock.sys`)
 *    and one fd table;
 *  - a clock (`mock.clock`), virtual by default, for sleeps, `timeout`
 *    deadlines and delayed completions;
 *  - per-operation handlers (`mock.handle('read', req => ...)`);
 *  - a seeded fault plan (`mock.faults.add({ op: 'write', errno: 'EIO' })`);
 *  - poll readiness the test drives (`mock.setReady(fd, mask)`).
 *
 * This file is the user-facing class only. The parts:
 *   engine.ts   records in, completions out: submission, cancel, deadlines,
 *               wake-ups, autoAdvance, ring-to-ring messages;
 *   request.ts  a record decoded into the request handlers see;
 *   models.ts   the built-in models (fs.ts, net.ts, poll, sleep, MSG_RING);
 *   handlers.ts handlers and how their answers become completions;
 *   faults.ts, clock.ts, log.ts, fds.ts, sys.ts: fault plan, clock, log,
 *               fd table, socket set-up calls.
 *
 * Completion rules (what Ring relies on, as with io_uring): exactly one
 * final CQE per operation, one linked-timeout CQE per operation staged with
 * a deadline, one CQE per cancel. Handlers run synchronously when the
 * operation is submitted (inside flush(), or when a delay ends); operations
 * a handler issues on a ring are queued by Ring and submitted right after.
 */
import { constants as fsc } from 'node:fs';

import type { Backend, BackendHandle, SyscallBackend } from '../backend.js';
import { Cqe, Rec, StageHeader } from '../protocol.js';
import { MockClockImpl, type MockClock } from './clock.js';
import { MockEngine } from './engine.js';
import { E, EBADFD } from '../shared/errno.js';
import { FaultPlan, type FaultSpec } from './faults.js';
import { FdTable, type MockOpenFd } from './fds.js';
import { MockFs, type MockFsOptions } from './fs.js';
import { MockHandlers } from './handlers.js';
import { MockLog, type MockUnhandled } from './log.js';
import { MockModels, PENDING } from './models.js';
import { defaultSeed, Prng } from './prng.js';
import type { Req } from './request.js';
import { MockRing, type Op } from './ring.js';
import { makeSys } from './sys.js';
import { MockNames } from './names.js';
import type { MockHandler, MockLogEntry, MockOpAlias, MockOpName, MockRequest } from './types.js';

export type { MockUnhandled } from './log.js';

/** IORING_FEAT_NODROP | SUBMIT_STABLE | RW_CUR_POS | FAST_POLL | POLL_32BITS | EXT_ARG: what info() reports. */
const MOCK_FEATURES = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 8);

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
  handlers?: Partial<Record<MockOpName | MockOpAlias, MockHandler>>;
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


/**
 * A Backend with no system calls. Pass it to `new Ring({ backend: mock })`
 * (or `setDefaultBackend(mock)` for code that uses `Ring.current()`).
 */
export class MockBackend implements Backend {
  readonly DESC_WORDS = Rec.WORDS;
  readonly STAGE_HEADER_WORDS = StageHeader.WORDS;
  readonly CQE_WORDS = Cqe.WORDS;

  /** The PRNG seed: print it to replay a run (`new MockBackend({ seed })` or URINGKIT_MOCK_SEED). */
  readonly seed: number;
  readonly clock: MockClock;
  /** The in-memory file system (helpers for setup and assertions). */
  readonly fs: MockFs;
  readonly faults: FaultPlan;
  /** Every operation submitted (bounded by `logLimit`), with its result once complete. */
  readonly log: MockLogEntry[];
  /** Operations that had neither a handler nor a built-in model (they failed with ENOSYS). */
  readonly unhandled: MockUnhandled[];
  /** Errors thrown by handlers or fault `match` functions (the operation failed with EIO). */
  readonly errors: Error[];
  /**
   * The socket set-up calls (socket, bind, listen, options, names, pipe) on
   * in-memory sockets: TcpListener, Socket.connect and UdpSocket run on the mock.
   */
  readonly sys: SyscallBackend;

  readonly #clock: MockClockImpl;
  readonly #log: MockLog;
  readonly #fds: FdTable;
  readonly #engine: MockEngine;
  readonly #models: MockModels;
  readonly #handlers: MockHandlers;
  readonly #autoAdvance: boolean;
  readonly #names: MockNames;

  /**
   * `names`: the operation names of the table, given by uringkit/testing
   * (whose MockBackend passes them: construct that one).
   */
  constructor(options: MockBackendOptions, names: MockNames) {
    if (!(names instanceof MockNames)) {
      throw new TypeError('MockBackend: construct it from uringkit/testing (this class needs the operation table\'s names)');
    }
    this.#names = names;
    if (options === null || typeof options !== 'object') throw new TypeError('MockBackend options must be an object');
    const seed = options.seed ?? defaultSeed();
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`MockBackend: seed must be an integer in [0, 2^32), received ${seed}`);
    }
    this.seed = seed;
    const prng = new Prng(seed);
    const mode = options.clock ?? 'virtual';
    if (mode !== 'virtual' && mode !== 'real') throw new TypeError(`MockBackend: clock must be 'virtual' or 'real'`);
    const clock = new MockClockImpl(mode, options.epoch ?? Date.UTC(2024, 0, 1));
    this.#clock = clock;
    this.clock = clock;
    clock.settle = () => this.idle();
    this.#autoAdvance = options.autoAdvance === true;
    if (this.#autoAdvance && mode !== 'virtual') throw new TypeError('MockBackend: autoAdvance needs the virtual clock');
    this.fs = new MockFs(() => clock.wallTime(), typeof options.fs === 'object' ? options.fs : {});
    this.#fds = new FdTable(options.fdBase ?? 3);
    this.#log = new MockLog(options.logLimit ?? 10_000);
    this.log = this.#log.entries;
    this.unhandled = this.#log.unhandled;
    this.errors = this.#log.errors;
    this.faults = new FaultPlan(prng, (p) => this.fs.display(p), names);
    this.#engine = new MockEngine({
      clock, faults: this.faults, log: this.#log, autoAdvance: this.#autoAdvance, names,
      execute: (op) => this.#execute(op),
      reset: (fd) => this.#models.reset(fd),
    });
    this.#models = new MockModels(this.#fds, this.fs, options.fs !== false, clock, this.#engine);
    this.#handlers = new MockHandlers({
      clock, fs: this.fs, log: this.#log, names,
      complete: (op, res, by) => this.#engine.complete(op, res, by),
      touch: () => this.#engine.touch(),
    });
    this.sys = makeSys(this.#fds, this.#models);
    for (const f of options.faults ?? []) this.faults.add(f);
    for (const [name, h] of Object.entries(options.handlers ?? {})) {
      if (h !== undefined) this.handle(name as MockOpName | MockOpAlias, h);
    }
  }

  // ---- test API -----------------------------------------------------------------------------

  /**
   * Handles every `name` operation with `handler` instead of the built-in
   * model (call `req.default()` inside it to delegate). Returns the mock.
   */
  handle(name: MockOpName | MockOpAlias, handler: MockHandler): this {
    this.#handlers.set(name, handler);
    return this;
  }

  /** Removes a handler (the built-in model applies again). */
  unhandle(name: MockOpName | MockOpAlias): this {
    this.#handlers.delete(name);
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
    this.#models.setReady(e, mask);
  }

  /**
   * Closes a mock fd synchronously (test cleanup, e.g. a pollable); pending
   * polls on it stay pending, as with io_uring. Returns whether it was open.
   */
  closeFd(fd: number): boolean {
    return this.#models.closeFd(fd);
  }

  /** The fds open in the mock (files, directories, pollables), lowest first. */
  openFds(): MockOpenFd[] {
    return this.#fds.list().map((e) => ({ fd: e.fd, kind: e.kind, path: this.#models.label(e), flags: e.flags }));
  }

  /** Throws an Error listing every fd still open (with its path and the operation that opened it). */
  assertNoLeaks(): void {
    const open = this.#fds.list();
    if (open.length === 0) return;
    const lines = open.map((e) => `  fd ${e.fd}: ${e.kind} ${this.#models.label(e)}` +
      (e.origin !== undefined ? ` (opened by ${e.origin})`
        : e.openedBy > 0 ? ` (opened by open #${e.openedBy})` : ' (openPollable)'));
    throw new Error(`MockBackend: ${open.length} file descriptor${open.length === 1 ? '' : 's'} leaked ` +
      `(seed ${this.seed}):\n${lines.join('\n')}`);
  }

  /** The requests in flight (submitted, not yet completed), in submission order. */
  inFlight(): MockRequest[] {
    return this.#engine.inFlight();
  }

  /**
   * Completes every operation in flight with -ECANCELED, uncancellable ones
   * included (cleanup of a test that left something hanging). Returns how
   * many it completed.
   */
  forceCancelAll(): number {
    return this.#engine.forceCancelAll();
  }

  /** `mock.log` entries, optionally of one operation (a method's name also covers its variants: `statx`, `fstat`). */
  calls(name?: MockOpName | MockOpAlias): MockLogEntry[] {
    if (name === undefined) return [...this.log];
    const op = this.#names.resolve(name, 'mock.calls');
    return this.log.filter((e) => this.#names.covers(op, e.op));
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
      const activity = this.#engine.activity;
      if (this.#engine.busy() || seen !== activity) {
        quiet = 0;
        seen = activity;
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
    for (const e of fds) lines.push(`    ${e.fd}: ${e.kind} ${this.#models.label(e)}`);
    const inflight = this.inFlight();
    lines.push(`  in flight (${inflight.length})${inflight.length ? ':' : ''}`);
    for (const r of inflight) {
      lines.push(`    #${r.seq} ${r.op} fd=${r.fd}${r.path ? ` ${r.path}` : ''}${r.address ? ` ${r.address}` : ''}`);
    }
    const faults = this.faults.describe();
    if (faults.length) lines.push(`  faults:`, ...faults.map((f) => `    ${f}`));
    lines.push(...this.#log.describe());
    return lines.join('\n');
  }

  // ---- Backend -------------------------------------------------------------------------------

  create(entries: number, cqEntries: number, wantFlags: number, stage: Int32Array, out: Int32Array,
    stats: Float64Array, turn: Int32Array, onWake: () => void, _allow?: Uint8Array, attachWqId = 0):
    BackendHandle | number {
    if (!(stage instanceof Int32Array) || !(out instanceof Int32Array) || !(stats instanceof Float64Array) ||
      !(turn instanceof Int32Array) || typeof onWake !== 'function') {
      throw new TypeError('MockBackend.create: stage/out/turn must be Int32Array, stats Float64Array, onWake a function');
    }
    const r = this.#engine.create(entries, cqEntries, wantFlags, stage, out, stats, turn, onWake, attachWqId);
    return typeof r === 'number' ? r : r as unknown as BackendHandle;
  }

  info(h: BackendHandle): [number, number, number, number, number] {
    const r = this.#ring(h);
    return [r.setupFlags, MOCK_FEATURES, r.sqEntries, r.cqEntries, -1];
  }

  probe(h: BackendHandle): Uint8Array {
    this.#ring(h);
    // The table's operations with a model (backends.mock 'yes'), and those a handler answers (splice, sendZc, ...).
    return this.#names.probe((name) => this.#handlers.has(name));
  }

  flush(h: BackendHandle, pins?: unknown[]): number {
    return this.#engine.flush(this.#ring(h), pins);
  }

  reap(h: BackendHandle): number {
    return this.#engine.deliver(this.#ring(h));
  }

  setRef(h: BackendHandle, on: boolean): void {
    this.#engine.setRef(this.#ring(h), on);
  }

  destroy(h: BackendHandle): void {
    this.#engine.destroy(this.#ring(h));
  }

  /**
   * Makes the ring reachable for ring-to-ring messages under `id`: MSG_RING
   * from any mock ring of this process (any MockBackend) posts into it.
   */
  registerRing(h: BackendHandle, id: number): number {
    return this.#engine.registerRing(this.#ring(h), id);
  }

  /**
   * A mock ring has no fd: for a live ring registered under `id` this returns
   * its mock ring number (>= 1) as a stand-in, else -EBADFD as the addon does.
   */
  ringFd(id: number): number {
    const r = MockEngine.messageTarget(id);
    return r !== undefined && !r.destroyed ? r.id : -EBADFD;
  }

  // ---- internals ------------------------------------------------------------------------------

  #ring(h: BackendHandle): MockRing {
    const r = h as unknown as MockRing;
    if (!(r instanceof MockRing) || !this.#engine.rings.has(r)) {
      if (r instanceof MockRing && r.destroyed) {
        throw Object.assign(new Error('the ring is closed'), { code: 'ERR_RING_CLOSED' });
      }
      throw Object.assign(new TypeError('invalid ring handle (not a ring of this MockBackend)'),
        { code: 'ERR_INVALID_ARG_TYPE' });
    }
    return r;
  }

  /** Runs an operation: its handler, else the built-in model, else ENOSYS (recorded in `unhandled`). */
  #execute(op: Op): void {
    const req = op.req;
    req.runDefault = () => this.#runDefault(op);
    const handler = this.#handlers.find(req.op);
    if (handler !== undefined) {
      op.log.by = 'handler';
      this.#handlers.run(op, handler);
      return;
    }
    const res = this.#models.run(op, (v) => this.#engine.complete(op, v, 'model'));
    if (res === PENDING) return;
    if (typeof res === 'object') {
      this.#unhandled(op, req, res.noModel);
      return;
    }
    this.#engine.complete(op, res, 'model');
  }

  /** `req.default()` inside a handler: the model's result, or a Promise of it. */
  #runDefault(op: Op): number | Promise<number> {
    let resolve: ((v: number) => void) | undefined;
    let early: number | undefined;
    const res = this.#models.run(op, (v) => {
      if (resolve !== undefined) resolve(v);
      else early = v;
    });
    if (typeof res === 'object') throw new Error(`no built-in mock model for ${op.req.op}${res.noModel ? ` (${res.noModel})` : ''}`);
    if (res !== PENDING) return res;
    if (early !== undefined) return early;
    return new Promise<number>((r) => (resolve = r));
  }

  #unhandled(op: Op, req: Req, detail: string): void {
    const message = `no mock handler for ${req.op}${detail ? ` (${detail})` : ''}: ` +
      `register one with mock.handle('${req.op}', (req) => ...)`;
    this.#log.recordUnhandled({ op: req.op, seq: req.seq, fd: req.fd, path: req.path, message });
    this.#engine.complete(op, -E.ENOSYS, 'unhandled');
  }
}
