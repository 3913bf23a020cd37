/**
 * From a descriptor record to the request a handler sees: the record is
 * decoded with protocol.ts's `decodeRecord()` (no word offsets here), its
 * pin is checked the way native/prep.c checks it, and the result is a `Req`
 * (the public MockRequest) or a -errno the operation completes with.
 */
import { DescOp, type DecodedRecord } from '../protocol.js';
import { E } from '../shared/errno.js';
import { Statx } from './statx.js';
import { addrOf, formatAddr, type SockAddr } from '../shared/sockaddr.js';
import type { MockOpName, MockRequest } from './types.js';


/** The request object handlers see. */
export class Req implements MockRequest {
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
  sockaddr?: SockAddr;
  /** recvmsg: where the sender's address goes (internal). */
  addrOut?: Uint8Array;
  /** sendMessage: the target ring's id and the message (internal). */
  message?: { target: number; hi: number; value: number };
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
      if (this.#aborted) this.#ac.abort(this.#reason());
    }
    return this.#ac.signal;
  }

  /** @internal */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#ac?.abort(this.#reason());
  }

  #reason(): Error {
    return new Error(`${this.op} #${this.seq} was completed by the mock (cancelled or timed out)`);
  }

  default(): number | Promise<number> {
    return this.runDefault();
  }

  emit(res: number): void {
    this.runEmit(res);
  }
}

/** Operations whose record carries an fd that must be >= 0 (the others: none, AT_FDCWD, or a ring id). */
export function needsFd(code: DescOp): boolean {
  switch (code) {
    case DescOp.NOP: case DescOp.TIMEOUT: case DescOp.CANCEL: case DescOp.OPENAT: case DescOp.OPENAT2: case DescOp.STATX:
    case DescOp.UNLINKAT: case DescOp.MKDIRAT: case DescOp.RENAMEAT: case DescOp.SYMLINKAT: case DescOp.LINKAT:
    case DescOp.MSG_RING:
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

export function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function isOffset(d: number, allowCurrent: boolean): boolean {
  if (allowCurrent && d === -1) return true;
  return d >= 0 && d <= Number.MAX_SAFE_INTEGER && Math.floor(d) === d;
}

export function isMs(d: number): boolean {
  return Number.isFinite(d) && d >= 0;
}

/** Fills the request from the record and its pin; returns 0 or -errno (as C's validation). */
export function decodeRequest(req: Req, rec: DecodedRecord, pin: unknown): number {
  const { op: code, arg0, arg1, position, offset: second, length } = rec;
  switch (code) {
    case DescOp.TIMEOUT:
      req.ms = rec.opMs;
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
      if (p === undefined || !ArrayBuffer.isView(out) || out.byteLength < Statx.BYTES) return -E.EINVAL;
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
    case DescOp.RECVMSG:
      return decodeMessage(req, rec, pin);
    case DescOp.MSG_RING:
      // fd: the target ring's id; arg0: the CQE's high word (tag | id << 16); arg1: the value.
      req.message = { target: rec.fd >>> 0, hi: arg0, value: arg1 };
      req.flags = arg0;
      req.mode = arg1;
      return 0;
    default:
      req.flags = arg0;
      req.mode = arg1;
      return 0;
  }
}

/** send/recv/sendZc/sendmsg/recvmsg: the data window and, for the msg forms, the address. */
function decodeMessage(req: Req, rec: DecodedRecord, pin: unknown): number {
  const { op: code, arg0, arg1, offset, length } = rec;
  const msg = code === DescOp.SENDMSG || code === DescOp.RECVMSG;
  const view: unknown = msg ? (Array.isArray(pin) ? pin[0] : undefined) : pin;
  if (!ArrayBuffer.isView(view)) return -E.EINVAL;
  if (!isOffset(offset, false) || offset + length > view.byteLength) return -E.EFAULT;
  req.buffer = new Uint8Array(view.buffer, view.byteOffset + offset, length);
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
