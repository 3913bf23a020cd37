/**
 * PortableBackend: the Backend protocol (src/backend/backend.ts) over
 * Node's own I/O, for wherever io_uring is unavailable (not Linux, seccomp,
 * kernel.io_uring_disabled, memlock) or the addon cannot load. It consumes
 * the same descriptor records as the addon and posts the same completion
 * records, so Ring and everything above it run unchanged:
 *
 *  - files: node:fs callbacks on real fds (files.ts);
 *  - sockets: node:net behind virtual fds (sockets.ts);
 *  - TIMEOUT and deadlines: unref'd timers (engine.ts);
 *  - MSG_RING: BroadcastChannel per ring (messages.ts).
 *
 * What has no meaning without io_uring degrades as docs/guides/portable.md's
 * table says (refused with a code, never silently different).
 */
import { NativeStat } from '../protocol.js';
import type { Backend, BackendHandle, SyscallBackend } from '../backend.js';
import { DescFlag, DescOp, Kind, Rec, SLOT_MESSAGE, StageHeader } from '../protocol.js';
import { decodeSockaddr } from '../shared/sockaddr.js';
import fs from 'node:fs';

import { BufRing, E, errnoOf, Op, PortableRing, timer } from './engine.js';
import { recordWindow, startFileOp, windowOf } from './files.js';
import { DgramHandle } from './datagrams.js';
import { FdReads } from './fd-reads.js';
import * as messages from './messages.js';
import {
  FD_BASE, HandleTable, makeSys, PipeEnd, StreamHandle,
} from './sockets.js';
import { pollerOf, POLLIN, POLLOUT, type Handle, type Poller } from './handle.js';

const STAGE_HEADER_WORDS = 16;
const DESC_WORDS = 16;
const CQE_WORDS = 4;
/** IORING_OP_* the portable backend executes (ring.supports()). */
const SUPPORTED = [
  0 /* NOP */, 1 /* READV */, 2 /* WRITEV */, 3 /* FSYNC */, 6 /* POLL_ADD */, 11 /* TIMEOUT */, 13 /* ACCEPT */,
  14 /* ASYNC_CANCEL */, 15 /* LINK_TIMEOUT */, 16 /* CONNECT */, 17 /* FALLOCATE */, 18 /* OPENAT */,
  19 /* CLOSE */, 21 /* STATX */, 22 /* READ */, 23 /* WRITE */, 24 /* FADVISE */, 26 /* SEND */, 27 /* RECV */,
  9 /* SENDMSG */, 10 /* RECVMSG */, 30 /* SPLICE */, 34 /* SHUTDOWN */, 35 /* RENAMEAT */, 36 /* UNLINKAT */, 37 /* MKDIRAT */, 38 /* SYMLINKAT */,
  39 /* LINKAT */, 40 /* MSG_RING */, 47 /* SEND_ZC (emulated) */, 55 /* FTRUNCATE */, 8 /* SYNC_FILE_RANGE (fdatasync) */,
];
/** Most bytes one emulated splice moves (its bounce buffer). */
const SPLICE_CHUNK = 1 << 16;
/** POLLERR | POLLHUP: reported whatever was asked. */
const POLL_ALWAYS = 0x008 | 0x010;

/**
 * startFileOp, with node:fs's own argument validation as a backstop: a value
 * node:fs refuses synchronously (its ERR_* TypeError/RangeError, thrown
 * before anything was issued) completes the operation with -EINVAL, as the
 * kernel would, instead of leaving it in flight forever.
 */
function fileOp(op: Op, stage: Int32Array, f64: Float64Array, base: number, pin: unknown): void {
  try {
    startFileOp(op, stage, f64, base, pin);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !code.startsWith('ERR_')) throw err;
    op.complete(-E.EINVAL);
  }
}

function isMs(d: number): boolean {
  return Number.isFinite(d) && d >= 0;
}

export interface PortableBackendOptions {
  /** Reserved for future use; the backend has no options today. */
  readonly [key: string]: never;
}

/**
 * A Backend over node:fs, node:net, timers and worker messaging. Pass it to
 * `new Ring({ backend: 'portable' })` (or an instance as `backend`); it is
 * also chosen automatically where io_uring cannot run (src/backend/select.ts).
 */
export class PortableBackend implements Backend {
  readonly DESC_WORDS = DESC_WORDS;
  readonly STAGE_HEADER_WORDS = STAGE_HEADER_WORDS;
  readonly CQE_WORDS = CQE_WORDS;
  /** The socket set-up calls over the backend's own socket handles (virtual fds). */
  readonly sys: SyscallBackend;
  readonly #table = new HandleTable();
  readonly #rings = new Set<PortableRing>();
  /** READs of real fds that may wait without end (pipes, sockets, terminals): cancellable (fd-reads.ts). */
  readonly #fdReads = new FdReads();

  constructor() {
    this.sys = makeSys(this.#table);
  }

  /** Virtual fds (sockets, pipes) open on this backend, for leak checks. */
  openHandles(): { fd: number; kind: string }[] {
    return this.#table.list();
  }

  /** Whether `fd` is one of this backend's virtual fds (a socket or pipe handle). */
  isHandle(fd: number): boolean {
    return this.#table.get(fd) !== undefined;
  }

  create(entries: number, cqEntries: number, wantFlags: number, stage: Int32Array, out: Int32Array,
    stats: Float64Array, turn: Int32Array, onWake: () => void, allow?: Uint8Array,
    attachWqId?: number): BackendHandle | number {
    if (!(entries >= 1 && entries <= 32768) || !(cqEntries >= entries && cqEntries <= 131072)) return -E.EINVAL;
    if (stage.length < STAGE_HEADER_WORDS + DESC_WORDS || turn.length < 3 || stats.length < NativeStat.COUNT) {
      return -E.EINVAL;
    }
    // Restrictions are enforced by the kernel on io_uring; here nothing could enforce them.
    if (allow !== undefined) return -E.EOPNOTSUPP;
    if (attachWqId !== undefined && attachWqId !== 0) return -E.EOPNOTSUPP;
    const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(n));
    const r = new PortableRing(stage, out, stats, turn, onWake, pow2(entries), pow2(cqEntries), 0);
    stage.fill(0, 0, STAGE_HEADER_WORDS);
    this.#rings.add(r);
    void wantFlags;
    return r as unknown as BackendHandle;
  }

  info(h: BackendHandle): [number, number, number, number, number] {
    const r = this.#ring(h);
    return [0, 0, r.sqEntries, r.cqEntries, -1];
  }

  probe(h: BackendHandle): Uint8Array {
    this.#ring(h);
    const p = new Uint8Array(256);
    for (const op of SUPPORTED) p[op] = 1;
    return p;
  }

  flush(h: BackendHandle, pins?: unknown[]): number {
    const r = this.#ring(h);
    const stage = r.stage;
    const count = stage[StageHeader.COUNT]!;
    if (count > 0) {
      r.stats[NativeStat.ENTERS]! += 1;
      const f64 = r.stageF64;
      r.flushing = true;
      try {
        for (let i = 0; i < count; i++) this.#submit(r, stage, f64, i, pins !== undefined ? pins[i] : undefined);
      } finally {
        r.flushing = false;
        stage[StageHeader.COUNT] = 0;
        stage[StageHeader.REFUSED] = 0;
      }
    }
    return r.deliver();
  }

  reap(h: BackendHandle): number {
    return this.#ring(h).deliver();
  }

  setRef(h: BackendHandle, on: boolean): void {
    this.#ring(h).setRef(on);
  }

  destroy(h: BackendHandle): void {
    const r = this.#ring(h);
    r.destroy();
    this.#rings.delete(r);
  }

  /** A provided-buffer ring over `buffers` (emulated: the backend fills free buffers itself). */
  registerBufRing(h: BackendHandle, bgid: number, entries: number, bufSize: number, buffers: ArrayBuffer): number {
    const r = this.#ring(h);
    if (!Number.isInteger(bgid) || bgid < 0 || bgid > 0xffff || r.bufRings.has(bgid)) return -E.EEXIST;
    if (!Number.isInteger(entries) || entries < 1 || entries > 32768 || !Number.isInteger(bufSize) || bufSize < 1 ||
      !(buffers instanceof ArrayBuffer) || entries * bufSize > buffers.byteLength) return -E.EINVAL;
    r.bufRings.set(bgid, new BufRing(new Uint8Array(buffers), bufSize, entries));
    return 0;
  }

  unregisterBufRing(h: BackendHandle, bgid: number): number {
    return this.#ring(h).bufRings.delete(bgid) ? 0 : -E.ENOENT;
  }

  registerRing(h: BackendHandle, id: number): number {
    const r = this.#ring(h);
    const detach = messages.listen(id, (hi, value) => {
      r.post(SLOT_MESSAGE, hi, value, 0);
      r.wake();
    });
    if (detach === undefined) return -E.ENOSPC;
    r.id = id;
    r.detachMessages = detach;
    return 0;
  }

  #ringOf(op: Op): PortableRing {
    return op.r;
  }

  #ring(h: BackendHandle): PortableRing {
    const r = h as unknown as PortableRing;
    if (!(r instanceof PortableRing) || !this.#rings.has(r)) {
      throw Object.assign(new TypeError('invalid ring handle (not a live ring of this PortableBackend)'),
        { code: 'ERR_INVALID_ARG_TYPE' });
    }
    return r;
  }

  /** Takes record `i`: every path ends in exactly one final CQE (plus its deadline's, if any). */
  #submit(r: PortableRing, stage: Int32Array, f64: Float64Array, i: number, pin: unknown): void {
    const base = STAGE_HEADER_WORDS + i * DESC_WORDS;
    const word0 = stage[base + Rec.OP_FLAGS]!;
    const code = word0 & 0xff;
    const flags = (word0 >>> 8) & 0xff;
    const slot = stage[base + Rec.SLOT]!;
    const hi = stage[base + Rec.HI]!;
    const fd = stage[base + Rec.FD]!;
    if (code === DescOp.CANCEL) {
      r.stats[NativeStat.SQES]! += 1;
      r.cancel(slot, hi, stage[base + Rec.ARG0]!, stage[base + Rec.ARG1]!);
      return;
    }
    if (code === DescOp.PBUF_RECYCLE) {
      // Returns a provided buffer to its ring: takes no SQE, posts no CQE.
      r.bufRings.get(stage[base + Rec.ARG0]!)?.recycle(stage[base + Rec.ARG1]!);
      return;
    }
    const link = (flags & DescFlag.LINK_TIMEOUT) !== 0;
    const separate = link && (flags & DescFlag.SEPARATE_TIMER) !== 0;
    const multishot = code === DescOp.POLL_MULTI || code === DescOp.RECV_MULTI ||
      (code === DescOp.ACCEPT && (stage[base + Rec.ARG1]! & 1) !== 0);
    const op = new Op(r, slot, hi, code, fd, multishot);
    r.stats[NativeStat.SQES]! += link ? 2 : 1;
    r.pending.set(slot, op);
    if (link) {
      const ms = f64[(base + Rec.LINK_MS) >> 1]!;
      if (!isMs(ms) || (hi & 3) !== Kind.OP) {
        if (separate) r.post(slot, (hi & ~3) | Kind.LINK_TIMEOUT, -E.ECANCELED, 0); // inside flush: returned by it
        else op.link = 1;
        op.complete(-E.EINVAL);
        return;
      }
      r.arm(op, separate ? 2 : 1, ms);
    }
    try {
      this.#start(op, stage, f64, base, pin);
    } catch (e) {
      // A Node API that throws where the kernel would answer with an errno: the op completes
      // with that errno (EIO when it has none) instead of waiting for ever.
      const errno = (e as { errno?: unknown }).errno;
      op.complete(typeof errno === 'number' && errno < 0 ? errno : -E.EIO);
    }
  }

  #start(op: Op, stage: Int32Array, f64: Float64Array, base: number, pin: unknown): void {
    const code = op.code;
    if (code === DescOp.SEND && op.fd >= FD_BASE) {
      // The hot path of a stream socket's SEND: what #socketOp does for it, without its other cases.
      const h = this.#table.get(op.fd);
      if (h instanceof StreamHandle) {
        const view = recordWindow(pin, stage, f64, base);
        return view === undefined ? op.complete(-E.EFAULT) : h.send(op, view);
      }
    }
    switch (code) {
      case DescOp.NOP:
        return op.complete(0);
      case DescOp.TIMEOUT: {
        const ms = f64[(base + Rec.OP_MS) >> 1]!;
        if (!isMs(ms)) return op.complete(-E.EINVAL);
        op.detach = timer(ms, () => op.complete(-E.ETIME));
        return;
      }
      case DescOp.MSG_RING:
        return op.complete(messages.send(op.fd, stage[base + Rec.ARG0]!, stage[base + Rec.ARG1]!));
      case DescOp.POLL:
      case DescOp.POLL_MULTI:
        return this.#poll(op, stage[base + Rec.ARG0]! >>> 0);
      case DescOp.CLOSE:
        if (op.fd >= FD_BASE) return op.complete(this.#table.close(op.fd) ? 0 : -E.EBADF);
        this.#fdReads.closed(op.fd);
        return fileOp(op, stage, f64, base, pin);
      case DescOp.FILES_UPDATE:
        // Registered files: see docs/guides/portable.md.
        return op.complete(-E.EOPNOTSUPP);
      case DescOp.SPLICE:
        return this.#splice(op, stage, f64, base);
      default:
        break;
    }
    const pathOp = code === DescOp.OPENAT || code === DescOp.STATX || (code >= DescOp.UNLINKAT && code <= DescOp.LINKAT);
    if (pathOp) return fileOp(op, stage, f64, base, pin);
    if (op.fd < 0) return op.complete(-E.EBADF);
    const handle = op.fd >= FD_BASE ? this.#table.get(op.fd) : undefined;
    if (code >= DescOp.ACCEPT && code <= DescOp.SHUTDOWN) {
      if (handle === undefined) return op.complete(op.fd >= FD_BASE ? -E.EBADF : -E.ENOTSOCK);
      return this.#socketOp(op, handle, stage, f64, base, pin);
    }
    if (handle !== undefined) {
      // read/write on a socket or pipe handle behave as recv/send.
      if (code === DescOp.READ || code === DescOp.WRITE) return this.#socketOp(op, handle, stage, f64, base, pin);
      return op.complete(-E.EINVAL);
    }
    if (op.fd >= FD_BASE) return op.complete(-E.EBADF);
    if (code === DescOp.READ) {
      const view = recordWindow(pin, stage, f64, base);
      if (view === undefined) return op.complete(-E.EFAULT);
      const position = f64[(base + Rec.POSITION) >> 1]!;
      if (position !== -1 && !(Number.isSafeInteger(position) && position >= 0)) return op.complete(-E.EINVAL);
      return this.#fdReads.read(op, view, position);
    }
    fileOp(op, stage, f64, base, pin);
  }

  #socketOp(op: Op, h: Handle, stage: Int32Array, f64: Float64Array, base: number, pin: unknown): void {
    const code = op.code;
    if (h instanceof DgramHandle) return this.#dgramOp(op, h, stage, f64, base, pin);
    if (code === DescOp.SENDMSG || code === DescOp.RECVMSG) {
      // On a stream socket without an address: a send / recv of the first view.
      const view = Array.isArray(pin) ? windowOf(pin[0], f64[(base + Rec.OFFSET) >> 1]!, stage[base + Rec.LENGTH]! >>> 0)
        : undefined;
      if (view === undefined) return op.complete(-E.EFAULT);
      if (!(h instanceof StreamHandle)) return op.complete(-E.ENOTSOCK);
      return code === DescOp.RECVMSG ? h.recv(op, view, stage[base + Rec.ARG0]!) : h.send(op, view);
    }
    if (code === DescOp.RECV_MULTI) {
      const br = this.#ringOf(op).bufRings.get(stage[base + Rec.ARG1]!);
      if (br === undefined) return op.complete(-E.ENOBUFS);
      if (!(h instanceof StreamHandle)) return op.complete(-E.EOPNOTSUPP);
      return h.recvMultishot(op, br, stage[base + Rec.ARG0]!, stage[base + Rec.ARG2]! >>> 0);
    }
    if (code === DescOp.SEND_ZC) {
      const view = recordWindow(pin, stage, f64, base);
      if (view === undefined || !(h instanceof StreamHandle)) return op.completeZc(view === undefined ? -E.EFAULT : -E.EOPNOTSUPP);
      return h.send(op, view, true);
    }
    if (code === DescOp.RECV || code === DescOp.SEND || code === DescOp.READ || code === DescOp.WRITE) {
      const view = recordWindow(pin, stage, f64, base);
      if (view === undefined) return op.complete(-E.EFAULT);
      const isRecv = code === DescOp.RECV || code === DescOp.READ;
      const flags = code === DescOp.RECV ? stage[base + Rec.ARG0]! : 0;
      if (h instanceof StreamHandle) return isRecv ? h.recv(op, view, flags) : h.send(op, view);
      if (h instanceof PipeEnd) {
        if (isRecv) return h.recv(op, view);
        if (h.reader) return op.complete(-E.EBADF);
        return this.#pipeWrite(op, h, view);
      }
      return op.complete(-E.ENOTSOCK);
    }
    if (!(h instanceof StreamHandle)) return op.complete(-E.ENOTSOCK);
    switch (code) {
      case DescOp.ACCEPT:
        return h.accept(op);
      case DescOp.CONNECT: {
        if (!ArrayBuffer.isView(pin)) return op.complete(-E.EINVAL);
        const a = decodeSockaddr(new Uint8Array(pin.buffer, pin.byteOffset, pin.byteLength),
          stage[base + Rec.ARG0]! >>> 0);
        if (typeof a === 'number') return op.complete(a);
        if (a[0] !== h.domain) return op.complete(-E.EAFNOSUPPORT);
        return h.connect(op, a[1], a[2]);
      }
      case DescOp.SHUTDOWN:
        return h.shutdown(op, stage[base + Rec.ARG0]!);
      default:
        return op.complete(-E.EOPNOTSUPP);
    }
  }

  #dgramOp(op: Op, h: DgramHandle, stage: Int32Array, f64: Float64Array, base: number, pin: unknown): void {
    const code = op.code;
    const offset = f64[(base + Rec.OFFSET) >> 1]!;
    const length = stage[base + Rec.LENGTH]! >>> 0;
    switch (code) {
      case DescOp.CONNECT: {
        if (!ArrayBuffer.isView(pin)) return op.complete(-E.EINVAL);
        const a = decodeSockaddr(new Uint8Array(pin.buffer, pin.byteOffset, pin.byteLength), stage[base + Rec.ARG0]! >>> 0);
        if (typeof a === 'number') return op.complete(a);
        if (a[0] !== h.domain) return op.complete(-E.EAFNOSUPPORT);
        return op.complete(h.connect(a[1], a[2]));
      }
      case DescOp.SENDMSG:
      case DescOp.SEND:
      case DescOp.WRITE: {
        const msg = code === DescOp.SENDMSG;
        const view = windowOf(msg ? (Array.isArray(pin) ? pin[0] : undefined) : pin, offset, length);
        if (view === undefined) return op.complete(-E.EFAULT);
        let to: { address: string; port: number } | undefined;
        const sa: unknown = msg ? (pin as unknown[])[1] : undefined;
        const saLen = stage[base + Rec.ARG1]!;
        if (sa !== null && sa !== undefined && saLen > 0) {
          if (!ArrayBuffer.isView(sa)) return op.complete(-E.EINVAL);
          const a = decodeSockaddr(new Uint8Array(sa.buffer, sa.byteOffset, sa.byteLength), saLen >>> 0);
          if (typeof a === 'number') return op.complete(a);
          if (a[0] !== h.domain) return op.complete(-E.EAFNOSUPPORT);
          to = { address: a[1], port: a[2] };
        }
        return h.sendmsg(op, view, to);
      }
      case DescOp.RECVMSG:
      case DescOp.RECV:
      case DescOp.READ: {
        const msg = code === DescOp.RECVMSG;
        const view = windowOf(msg ? (Array.isArray(pin) ? pin[0] : undefined) : pin, offset, length);
        if (view === undefined) return op.complete(-E.EFAULT);
        let addrOut: Uint8Array | undefined;
        if (msg) {
          const sa: unknown = (pin as unknown[])[1];
          if (!ArrayBuffer.isView(sa) || sa.byteLength < 128) return op.complete(-E.EINVAL);
          addrOut = new Uint8Array(sa.buffer, sa.byteOffset, sa.byteLength);
        }
        return h.recvmsg(op, view, addrOut);
      }
      case DescOp.SHUTDOWN:
        return op.complete(h.shutdown());
      default:
        return op.complete(-E.EOPNOTSUPP);
    }
  }

  /** A write into an in-memory pipe: as many bytes as it has room for, waiting while it is full. */
  #pipeWrite(op: Op, w: PipeEnd, view: Uint8Array): void {
    const n = w.write(view);
    if (n !== 0 || view.length === 0) return op.complete(n);
    const poller: Poller = {
      events: POLLOUT, multishot: false,
      fire: () => this.#pipeWrite(op, w, view),
      fail: (res) => op.complete(res),
    };
    w.pollers.add(poller);
    op.detach = () => w.pollers.delete(poller);
  }

  #poll(op: Op, events: number): void {
    const h = op.fd >= FD_BASE ? this.#table.get(op.fd) : undefined;
    if (h === undefined) {
      if (op.fd >= FD_BASE || op.fd < 0) return op.complete(-E.EBADF);
      // Readiness of an arbitrary fd cannot be observed through Node's API: refused (EBADF if not open).
      op.cancellable = false;
      fs.fstat(op.fd, (err) => op.complete(err ? errnoOf(err) : -E.EOPNOTSUPP));
      return;
    }
    const mask = h.readiness() & (events | POLL_ALWAYS);
    if (mask !== 0 && !op.multishot) return op.complete(mask);
    const p = pollerOf(op, events);
    h.pollers.add(p);
    op.detach = () => h.pollers.delete(p);
    if (mask !== 0) op.more(mask);
  }

  /**
   * SPLICE emulated with a bounce buffer: file → pipe (fs.read into the
   * pipe), pipe → socket (a send of what the pipe holds). One direction must
   * be a pipe handle, as splice(2) requires.
   */
  #splice(op: Op, stage: Int32Array, f64: Float64Array, base: number): void {
    const fdOut = stage[base + Rec.ARG0]!;
    const offIn = f64[(base + Rec.POSITION) >> 1]!;
    const offOut = f64[(base + Rec.OFFSET) >> 1]!;
    const len = stage[base + Rec.LENGTH]! >>> 0;
    const hin = this.#table.get(op.fd);
    const hout = this.#table.get(fdOut);
    if (hout instanceof PipeEnd && !hout.reader) {
      if (offOut !== -1) return op.complete(-E.ESPIPE);
      if (hin !== undefined) return op.complete(-E.EINVAL);
      const room = Math.min(len, hout.room(), SPLICE_CHUNK);
      if (room === 0) return op.complete(len === 0 ? 0 : -E.EAGAIN);
      const buf = Buffer.allocUnsafe(room);
      op.cancellable = false;
      fs.read(op.fd, buf, 0, room, offIn === -1 ? null : offIn, (err, n) => {
        if (err) return op.complete(errnoOf(err));
        op.complete(n === 0 ? 0 : hout.write(buf.subarray(0, n)));
      });
      return;
    }
    if (hin instanceof PipeEnd && hin.reader) {
      if (offIn !== -1) return op.complete(-E.ESPIPE);
      if (!(hout instanceof StreamHandle)) return op.complete(-E.EINVAL);
      const take = (): void => {
        const n = Math.min(len, hin.inbox.bytes, SPLICE_CHUNK);
        if (n === 0 && len > 0 && hin.peer !== undefined && !hin.peer.closed) {
          const poller: Poller = { events: POLLIN, multishot: false, fire: take, fail: (res) => op.complete(res) };
          hin.pollers.add(poller);
          op.detach = () => hin.pollers.delete(poller);
          return;
        }
        const buf = Buffer.allocUnsafe(n);
        hin.inbox.take(buf, false);
        hin.peer?.changed();
        hout.send(op, buf);
      };
      return take();
    }
    if (hin === undefined && hout === undefined) return this.#spliceReal(op, fdOut, offIn, offOut, len);
    return op.complete(-E.EINVAL);
  }

  /** splice between two real fds, one of them a pipe (FIFO): one bounded read, then its write. */
  #spliceReal(op: Op, fdOut: number, offIn: number, offOut: number, len: number): void {
    op.cancellable = false;
    fs.fstat(op.fd, (e1, s1) => {
      if (e1) return op.complete(errnoOf(e1));
      fs.fstat(fdOut, (e2, s2) => {
        if (e2) return op.complete(errnoOf(e2));
        const pin = s1.isFIFO();
        const pout = s2.isFIFO();
        if (!pin && !pout) return op.complete(-E.EINVAL);
        if ((pin && offIn !== -1) || (pout && offOut !== -1)) return op.complete(-E.ESPIPE);
        const n = Math.min(len, SPLICE_CHUNK);
        if (n === 0) return op.complete(0);
        const buf = Buffer.allocUnsafe(n);
        fs.read(op.fd, buf, 0, n, offIn === -1 ? null : offIn, (e3, got) => {
          if (e3) return op.complete(errnoOf(e3));
          if (got === 0) return op.complete(0);
          fs.write(fdOut, buf, 0, got, offOut === -1 ? null : offOut, (e4, put) => {
            op.complete(e4 ? errnoOf(e4) : put);
          });
        });
      });
    });
  }
}

/** The process's portable backend (one handle table per thread, like the addon's fd table per process). */
let shared: PortableBackend | undefined;
export function portableBackend(): PortableBackend {
  return (shared ??= new PortableBackend());
}
