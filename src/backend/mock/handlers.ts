/**
 * Per-operation handlers (`mock.handle('read', req => ...)`): the table, and
 * how a handler's answer (a number, bytes, a MockReply, a thrown error, or a
 * Promise of any of those) becomes the operation's completion.
 */
import type { MockClockImpl } from './clock.js';
import { E, errnoNumber } from '../shared/errno.js';
import { Inode, type MockFs } from './fs.js';
import { Statx } from './statx.js';
import type { MockLog } from './log.js';
import type { Op } from './ring.js';
import type { MockNames } from './names.js';
import type { MockHandler, MockReply, MockResult, MockStatInit } from './types.js';

/** What running a handler needs from the rest of the mock. */
export interface HandlerHost {
  readonly clock: MockClockImpl;
  readonly fs: MockFs;
  readonly log: MockLog;
  readonly names: MockNames;
  complete(op: Op, res: number, by: string): void;
  touch(): void;
}

export class MockHandlers {
  readonly #table = new Map<string, MockHandler>();
  readonly #host: HandlerHost;

  constructor(host: HandlerHost) {
    this.#host = host;
  }

  set(name: string, handler: MockHandler): void {
    const op = this.#host.names.resolve(name, 'mock.handle');
    if (typeof handler !== 'function') throw new TypeError(`mock.handle('${op}', handler): handler must be a function`);
    this.#table.set(op, handler);
  }

  delete(name: string): void {
    this.#table.delete(this.#host.names.resolve(name, 'mock.unhandle'));
  }

  /** The handler of an operation named `name`: its own, else its issuing method's (`fstat` → `statx`). */
  find(name: string): MockHandler | undefined {
    const family = this.#host.names.familyOf(name);
    return this.#table.get(name) ?? (family !== undefined ? this.#table.get(family) : undefined);
  }

  has(name: string): boolean {
    return this.find(name) !== undefined;
  }

  /** Runs `handler` for `op` and completes the operation with its answer (now or when it settles). */
  run(op: Op, handler: MockHandler): void {
    if (op.done) return;
    let out: MockResult | Promise<MockResult>;
    try {
      out = handler(op.req);
    } catch (e) {
      this.#failed(op, e);
      return;
    }
    if (out !== null && typeof out === 'object' && typeof (out as Promise<MockResult>).then === 'function') {
      (out as Promise<MockResult>).then((v) => this.#apply(op, v), (e: unknown) => this.#failed(op, e));
    } else {
      this.#apply(op, out as MockResult);
    }
  }

  #failed(op: Op, e: unknown): void {
    if (op.done) return;
    const code = (e as { code?: unknown } | null)?.code;
    const errno = (e as { errno?: unknown } | null)?.errno;
    if (typeof code === 'string' && typeof (E as Record<string, number | undefined>)[code] === 'number') {
      this.#host.complete(op, -(E as Record<string, number>)[code]!, 'handler');
    } else if (typeof errno === 'number' && Number.isInteger(errno) && errno < 0) {
      this.#host.complete(op, errno, 'handler');
    } else {
      this.#host.log.recordError(e, `mock handler for ${op.req.op} (#${op.req.seq}) threw`);
      this.#host.complete(op, -E.EIO, 'handler');
    }
  }

  #apply(op: Op, v: MockResult): void {
    if (op.done) return;
    this.#host.touch();
    let res: number;
    let delay: number | undefined;
    let notify: Promise<unknown> | undefined;
    try {
      if (v === undefined || v === null) res = 0;
      else if (typeof v === 'number') {
        if (!Number.isFinite(v)) throw new RangeError(`result must be a finite number, received ${v}`);
        res = Math.trunc(v);
      } else if (typeof v === 'string' || v instanceof Uint8Array) res = copyIn(op, v);
      else if (typeof v === 'object') {
        const reply = v as MockReply;
        if (reply.uncancellable === true) op.uncancellable = true;
        if (reply.errno !== undefined) res = -errnoNumber(reply.errno, 'reply.errno');
        else {
          res = reply.data !== undefined ? copyIn(op, reply.data) : 0;
          if (reply.res !== undefined) res = Math.trunc(reply.res);
        }
        if (reply.stat !== undefined) this.#fillStat(op, reply.stat);
        delay = reply.delay;
        notify = reply.notify;
      } else throw new TypeError(`unexpected result ${String(v)}`);
    } catch (e) {
      this.#host.log.recordError(e, `mock handler for ${op.req.op} (#${op.req.seq}) returned an invalid result`);
      this.#host.complete(op, -E.EIO, 'handler');
      return;
    }
    if (op.req.op === 'sendZc') op.notify = notify ?? true;
    if (delay !== undefined && delay > 0) {
      if (delay === Infinity) return; // until cancelled or its deadline
      op.timer = this.#host.clock.schedule(delay, () => {
        op.timer = undefined;
        this.#host.complete(op, res, 'handler');
      });
      return;
    }
    this.#host.complete(op, res, 'handler');
  }

  #fillStat(op: Op, init: MockStatInit): void {
    const out = op.req.statOut;
    if (out === undefined) return;
    const nowNs = BigInt(Math.round((init.mtimeMs ?? this.#host.clock.wallTime()) * 1000)) * 1000n;
    const node = new Inode(init.ino ?? 1, init.type ?? 'file', init.mode ?? 0o644, init.uid ?? 0, init.gid ?? 0, nowNs);
    node.size = init.size ?? 0;
    if (init.nlink !== undefined) node.nlink = init.nlink;
    this.#host.fs.fillStatx(node, out);
    if (init.size !== undefined) {
      new DataView(out.buffer, out.byteOffset, Statx.BYTES).setBigUint64(Statx.SIZE, BigInt(init.size), true);
    }
  }
}

/** Copies a handler's data into the read buffer(s); returns the byte count. */
function copyIn(op: Op, data: string | Uint8Array): number {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const req = op.req;
  const views = req.buffer !== undefined ? [req.buffer] : req.buffers ?? [];
  if (req.op !== 'read' && req.op !== 'readv' && req.op !== 'recv' && req.op !== 'recvmsg') return bytes.length;
  let done = 0;
  for (const v of views) {
    if (done >= bytes.length) break;
    const n = Math.min(v.length, bytes.length - done);
    v.set(bytes.subarray(done, done + n));
    done += n;
  }
  return done;
}
