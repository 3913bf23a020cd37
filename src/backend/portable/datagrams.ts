/**
 * UDP sockets of the portable backend: libuv's UDP handle (the one
 * node:dgram wraps), used directly because dgram binds asynchronously and a
 * bind(2) must answer at once (EADDRINUSE, the ephemeral port). Datagrams
 * wait in the handle's queue until a RECVMSG takes one; past DGRAM_QUEUE_MAX
 * bytes queued, newer datagrams are dropped, as the kernel drops past the
 * receive buffer. SENDMSG completes when libuv has handed the datagram to
 * the kernel. Unix datagram sockets have no Node API: socket() refuses them.
 */
import { AF_INET6, encodeSockaddr } from '../shared/sockaddr.js';
import { E, type Op } from './engine.js';
import { Handle, POLLIN, POLLOUT, uvBinding, uvErrno } from './handle.js';

/** Bytes of datagrams queued unread past which new ones are dropped. */
export const DGRAM_QUEUE_MAX = 4 << 20;

interface UdpWrap {
  bind(a: string, p: number, f: number): number;
  bind6(a: string, p: number, f: number): number;
  connect(a: string, p: number): number;
  connect6(a: string, p: number): number;
  send(req: unknown, list: Uint8Array[], n: number, ...rest: unknown[]): number;
  send6(req: unknown, list: Uint8Array[], n: number, ...rest: unknown[]): number;
  getsockname(out: Record<string, unknown>): number;
  recvStart(): number;
  recvStop(): number;
  bufferSize(size: number, recv: boolean, ctx: Record<string, unknown>): number | undefined;
  close(cb?: () => void): void;
  unref(): void;
  onmessage: ((nread: number, handle: unknown, buf: Buffer | undefined, rinfo: Record<string, unknown>) => void) | null;
}
interface UdpBinding {
  UDP: new () => UdpWrap;
  SendWrap: new () => { oncomplete?: (status: number, sent: number) => void; list?: unknown };
  constants: { UV_UDP_IPV6ONLY: number; UV_UDP_REUSEADDR: number };
}

let binding: UdpBinding | undefined | null = null;
function udpBinding(): UdpBinding | undefined {
  if (binding === null) binding = uvBinding<UdpBinding>('udp_wrap');
  return binding;
}

interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

/** A UDP socket: bound on bind(), or on the first send (to the wildcard address, as the kernel does). */
export class DgramHandle extends Handle {
  readonly kindName = 'datagram socket';
  #h: UdpWrap | undefined;
  #bound = false;
  #queue: Datagram[] = [];
  #queued = 0;
  #readers: { op: Op; view: Uint8Array; addrOut: Uint8Array | undefined }[] = [];
  #peer: { address: string; port: number } | undefined;
  #local = { address: '', port: 0 };
  reuseAddr = false;
  /** SO_SNDBUF / SO_RCVBUF asked for (0: the default), applied once the socket exists. */
  sndbuf = 0;
  rcvbuf = 0;
  v6Only = false;
  #shut = false;

  constructor(readonly domain: number) {
    super();
  }

  static supported(): boolean {
    return udpBinding() !== undefined;
  }

  #handle(): UdpWrap {
    if (this.#h === undefined) {
      this.#h = new (udpBinding()!.UDP)();
      this.#h.unref();
    }
    return this.#h;
  }

  bind(address: string, port: number): number {
    if (this.#bound) return -E.EINVAL;
    const b = udpBinding()!;
    const h = this.#handle();
    const flags = (this.reuseAddr ? b.constants.UV_UDP_REUSEADDR : 0) | (this.v6Only ? b.constants.UV_UDP_IPV6ONLY : 0);
    const err = this.domain === AF_INET6 ? h.bind6(address, port, flags) : h.bind(address, port, flags);
    if (err !== 0) return uvErrno(err);
    const out: Record<string, unknown> = {};
    h.getsockname(out);
    this.#local = { address: String(out.address), port: Number(out.port) };
    this.#bound = true;
    this.applyBuffers();
    h.onmessage = (nread, _handle, buf, rinfo) => this.#onMessage(nread, buf, rinfo);
    const r = h.recvStart();
    return r === 0 ? 0 : uvErrno(r);
  }

  /** Applies SO_SNDBUF / SO_RCVBUF (libuv's uv_send_buffer_size / uv_recv_buffer_size) once bound. */
  applyBuffers(): void {
    const h = this.#h;
    if (h === undefined || !this.#bound) return;
    if (this.sndbuf > 0) h.bufferSize(this.sndbuf, false, {});
    if (this.rcvbuf > 0) h.bufferSize(this.rcvbuf, true, {});
  }

  #ensureBound(): number {
    return this.#bound ? 0 : this.bind(this.domain === AF_INET6 ? '::' : '0.0.0.0', 0);
  }

  #onMessage(nread: number, buf: Buffer | undefined, rinfo: Record<string, unknown>): void {
    if (nread < 0) return;
    const data = buf === undefined ? Buffer.alloc(0) : buf.subarray(0, nread);
    const address = String(rinfo.address);
    const port = Number(rinfo.port);
    const peer = this.#peer;
    if (peer !== undefined && (peer.port !== port || peer.address !== address)) return; // connected: others filtered
    if (this.#queued + nread > DGRAM_QUEUE_MAX) return; // the receive buffer is full: dropped
    this.#queue.push({ data, address, port });
    this.#queued += nread;
    this.#feed();
    this.changed();
  }

  #feed(): void {
    while (this.#readers.length > 0 && (this.#queue.length > 0 || this.#shut)) {
      const r = this.#readers.shift()!;
      this.#deliver(r.op, r.view, r.addrOut);
    }
  }

  #deliver(op: Op, view: Uint8Array, addrOut: Uint8Array | undefined): void {
    const d = this.#queue.shift();
    if (d === undefined) return op.complete(0);
    this.#queued -= d.data.length;
    const n = Math.min(view.length, d.data.length);
    view.set(d.data.subarray(0, n));
    if (addrOut !== undefined) {
      const sa = encodeSockaddr(this.domain, d.address, d.port, 0, 0);
      if (typeof sa !== 'number') addrOut.set(sa.subarray(0, Math.min(addrOut.length, 128)));
    }
    op.complete(n);
  }

  readiness(): number {
    return (this.#queue.length > 0 || this.#shut ? POLLIN : 0) | POLLOUT;
  }

  recvmsg(op: Op, view: Uint8Array, addrOut: Uint8Array | undefined): void {
    if (this.#queue.length > 0 || this.#shut) return this.#deliver(op, view, addrOut);
    const r = { op, view, addrOut };
    this.#readers.push(r);
    op.detach = () => {
      const i = this.#readers.indexOf(r);
      if (i >= 0) this.#readers.splice(i, 1);
    };
  }

  sendmsg(op: Op, view: Uint8Array, to: { address: string; port: number } | undefined): void {
    const dest = to ?? this.#peer;
    if (dest === undefined) return op.complete(-E.EDESTADDRREQ);
    if (this.#shut) return op.complete(-E.EPIPE);
    const bound = this.#ensureBound();
    if (bound !== 0) return op.complete(bound);
    const b = udpBinding()!;
    const h = this.#handle();
    const req = new b.SendWrap();
    const copy = view; // pinned by the slot until this completes
    req.list = [copy];
    let done = false;
    req.oncomplete = (status) => {
      if (done) return;
      done = true;
      op.complete(status < 0 ? uvErrno(status) : copy.length);
    };
    op.cancellable = false;
    const err = this.domain === AF_INET6
      ? h.send6(req, [copy], 1, dest.port, dest.address, true)
      : h.send(req, [copy], 1, dest.port, dest.address, true);
    if (err < 0) {
      done = true;
      return op.complete(uvErrno(err));
    }
    if (err > 0) {
      // Sent synchronously (libuv's try_send): the value is bytes + 1; no callback follows.
      done = true;
      op.complete(err - 1);
    }
  }

  connect(address: string, port: number): number {
    const bound = this.#ensureBound();
    if (bound !== 0) return bound;
    this.#peer = { address, port };
    // Datagrams from others already queued are dropped, as the kernel does once connected.
    this.#queue = this.#queue.filter((d) => d.address === address && d.port === port);
    this.#queued = this.#queue.reduce((n, d) => n + d.data.length, 0);
    return 0;
  }

  get local(): { address: string; port: number } {
    return this.#local;
  }

  get peer(): { address: string; port: number } | undefined {
    return this.#peer;
  }

  shutdown(): number {
    this.#shut = true;
    this.#feed();
    this.changed();
    return 0;
  }

  close(): void {
    this.#shut = true;
    const h = this.#h;
    this.#h = undefined;
    if (h !== undefined) {
      h.onmessage = null;
      if (this.#bound) h.recvStop();
      h.close();
    }
    for (const r of this.#readers.splice(0)) r.op.complete(-E.ECANCELED);
    const pollers = [...this.pollers];
    this.pollers.clear();
    for (const p of pollers) p.fail(-E.ECANCELED);
  }
}
