/**
 * One HTTP/1.1 connection of the static file server: a small callback-driven
 * state machine (no Promise per request on the hot path). One recv into a
 * per-connection buffer, requests parsed out of it (pipelining included),
 * responses queued and sent with one send per batch, the next recv armed in
 * the same submission.
 *
 * Deadlines (checked by the server's sweeper through expire(), never a timer
 * per connection):
 * - a request head must be complete within `headerTimeoutMs` of its first
 *   byte (408), and the whole request, head and body, within
 *   `requestTimeoutMs` (bytes that keep trickling in do not extend either);
 * - an idle keep-alive connection closes after `keepAliveTimeoutMs`;
 * - a response that makes no progress for `sendTimeoutMs` (the peer does not
 *   read) is abandoned: the transfer is aborted and the connection closed;
 * - after a final response, input is drained for LINGER_MS, then closed.
 */
import type { Ring } from '../ring/ring.js';
import type { Socket } from '../net/socket.js';
import type { Clock } from './http-date.js';
import { errorResponse, HEAD_INCOMPLETE, HEAD_MALFORMED, parseRequest, scanHead, type Request } from './http.js';

export interface ConnectionLimits {
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** 0: no send deadline. */
  readonly sendTimeoutMs: number;
}

/** What a connection needs of its server (an object the server keeps private). */
export interface ConnectionHost {
  readonly clock: Clock;
  readonly limits: ConnectionLimits;
  /** Answers one request: queued on the connection at once, or a Promise while it is produced. */
  handle(c: Connection, req: Request): void | Promise<void>;
  /** Asynchronous work the server's close() waits for. */
  track(p: Promise<unknown>): void;
  onError(err: unknown): void;
  /** A request refused before it reached handle() (it still counts, and is logged). */
  refused(c: Connection, status: number): void;
  removed(c: Connection): void;
}

const SHUT_WR = 1;
const SHUT_RDWR = 2;
const INITIAL_BUFFER = 4096;
/**
 * Output queued beyond this stops the parsing of pipelined requests until it
 * drains: what a client that sends requests but never reads costs us.
 */
const OUT_HIGH_WATER = 256 * 1024;
/** Queued buffers are copied into one send up to this many bytes (see #flush). */
const SEND_BATCH = 64 * 1024;
/** After a response with Connection: close, unread input is drained this long before the close (no RST). */
export const LINGER_MS = 2000;

export class Connection {
  readonly sock: Socket;
  readonly #host: ConnectionHost;
  readonly #fd: number;
  readonly #ring: Ring;
  #buf: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  /** Bytes of the pending head (from #start) already scanned by scanHead. */
  #scanned = 0;
  /** Request-body bytes still to discard. */
  #skip = 0;
  #reading = false;
  #sending = false;
  /** An asynchronous response is being produced; parsing waits for it. */
  #busy = false;
  /** The peer shut down its side (recv returned 0). */
  #eof = false;
  /** Close once the queued output is out (Connection: close, an error, shutdown). */
  closeAfter = false;
  #lingering = false;
  #dead = false;
  /**
   * A sendFile is in flight (its AbortController): its splices use the fd
   * number, so the fd must not be closed (and reused) under it; destroy()
   * aborts it and shuts the socket down, and endTransfer() closes it.
   */
  #transfer: AbortController | undefined;
  readonly #out: Buffer[] = [];
  #outBytes = 0;
  #sendBuf: Buffer | undefined;
  #sendOff = 0;
  /** Coarse-clock ms after which the sweeper acts (0: none). */
  #deadline = 0;
  /** When the current request began arriving (0: none pending). */
  #requestStart = 0;
  #progressAt: number;
  readonly #acceptedAt: number;
  /** Requests handed to the responder so far. */
  #answered = 0;
  /** The peer's address, for the access log (set by the server when it logs). */
  remote: string | undefined;
  #drainWaiters: (() => void)[] | undefined;
  readonly #recvOpts = { offset: 0, length: 0 };
  readonly #sendOpts = { offset: 0, length: 0 };

  constructor(host: ConnectionHost, sock: Socket) {
    this.#host = host;
    this.sock = sock;
    this.#fd = sock.fd;
    this.#ring = sock.ring;
    this.#progressAt = host.clock.now;
    this.#acceptedAt = host.clock.now;
  }

  /**
   * True when closing this connection now loses nothing: no request is in
   * progress (no byte of one received, no response queued or being sent) and
   * it has either answered a request before (an idle keep-alive connection)
   * or stayed silent since it was accepted `graceMs` ago, or it is only
   * lingering after its last response. The server closes such connections,
   * oldest first, when it runs out of descriptors (as nginx reuses idle
   * keep-alive connections when it runs out of connections).
   */
  idle(now: number, graceMs: number): boolean {
    if (this.#dead || this.#busy || this.#sending || this.#transfer !== undefined) return false;
    if (this.#lingering) return true;
    if (this.closeAfter || this.#start !== this.#end || this.#skip > 0 || this.#requestStart !== 0) return false;
    return this.#answered > 0 || now - this.#acceptedAt >= graceMs;
  }

  /** True once the connection is closed (or closing for good): responses in progress stop. */
  get dead(): boolean {
    return this.#dead;
  }

  /** Whether the sweeper has anything to check on this connection. */
  get watched(): boolean {
    return this.#deadline !== 0 || this.#sending || this.#busy;
  }

  // ---- input ---------------------------------------------------------------

  #arm(): void {
    if (this.#reading || this.#dead || this.#eof) return;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
    } else if (this.#buf.length - this.#end < 1024 && this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) {
      const cap = this.#host.limits.maxHeaderBytes + 4096;
      if (this.#buf.length >= cap) return; // full of pipelined requests: resumes when they are answered
      const bigger = Buffer.allocUnsafe(Math.min(cap, this.#buf.length * 2));
      this.#buf.copy(bigger, 0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = bigger;
    }
    this.#reading = true;
    this.#recvOpts.offset = this.#end;
    this.#recvOpts.length = this.#buf.length - this.#end;
    this.#ring.recv(this.#fd, this.#buf, this.#recvOpts, this.#onRecv);
  }

  readonly #onRecv = (err: Error | null, n?: number): void => {
    this.#reading = false;
    if (this.#dead) return;
    if (err !== null) return this.destroy();
    if (n === 0) {
      this.#eof = true;
      if (this.#lingering || (!this.#busy && !this.#sending && this.#start === this.#end)) return this.destroy();
    } else if (this.#lingering) {
      this.#start = this.#end = 0; // discarded
      this.#arm();
      return;
    } else {
      if (this.#start === this.#end && this.#skip === 0 && this.#requestStart === 0) {
        this.#requestStart = this.#host.clock.now;
      }
      this.#end += n!;
    }
    this.pump();
  };

  /** Answers every complete request in the buffer (in order), then sends and re-arms. */
  pump(): void {
    const limits = this.#host.limits;
    while (!this.#busy && !this.closeAfter && !this.#dead && this.#outBytes < OUT_HIGH_WATER) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, this.#end - this.#start);
        this.#skip -= n;
        this.#start += n;
        if (this.#skip > 0) break;
        this.#requestStart = 0; // the body is done
      }
      if (this.#scanned === 0) {
        // Empty lines (CRLF) before a request line are ignored (RFC 9112 2.2; some clients send one
        // after a body). They do not extend the head's deadline: #requestStart stays where it was.
        const buf = this.#buf;
        while (this.#end - this.#start >= 2 && buf[this.#start] === 13 && buf[this.#start + 1] === 10) this.#start += 2;
        if (this.#end - this.#start === 1 && buf[this.#start] === 13) break; // its LF is still to come
      }
      if (this.#start === this.#end) break;
      if (this.#requestStart === 0) this.#requestStart = this.#host.clock.now;
      const he = scanHead(this.#buf, this.#start, this.#scanned, this.#end);
      if (he === HEAD_MALFORMED) {
        this.#fail(400);
        break;
      }
      if (he === HEAD_INCOMPLETE) {
        this.#scanned = this.#end - this.#start;
        if (this.#end - this.#start > limits.maxHeaderBytes) this.#fail(this.#tooLarge());
        else if (this.#eof) this.#fail(400);
        break;
      }
      if (he - this.#start > limits.maxHeaderBytes) {
        this.#fail(this.#tooLarge());
        break;
      }
      const req = parseRequest(this.#buf, this.#start, he);
      if (typeof req === 'number') {
        this.#fail(req);
        break;
      }
      this.#start = he;
      this.#scanned = 0;
      this.#skip = req.contentLength;
      if (this.#skip === 0) this.#requestStart = 0;
      this.#answered++;
      const p = this.#host.handle(this, req);
      if (p !== undefined) {
        this.#busy = true;
        this.#host.track(p.then(this.#onAsyncDone, this.#onAsyncError));
        break;
      }
    }
    this.#flush();
    if (this.#dead) return;
    if (this.closeAfter) {
      if (!this.#busy && !this.#sending) this.#beginClose();
      return;
    }
    // The peer is gone and everything is answered (e.g. after a sendFile, which queues nothing here).
    if (this.#eof && !this.#busy && !this.#sending && this.#start === this.#end) return this.destroy();
    if (this.#outBytes < OUT_HIGH_WATER) this.#arm();
    this.#setDeadline();
  }

  readonly #onAsyncDone = (): void => {
    this.#busy = false;
    if (!this.#dead) this.pump();
  };

  readonly #onAsyncError = (err: unknown): void => {
    this.#busy = false;
    this.#host.onError(err);
    this.destroy();
  };

  #setDeadline(): void {
    const limits = this.#host.limits;
    if (this.#busy || this.#sending) this.#deadline = 0;
    else if (this.#skip > 0) this.#deadline = this.#requestStart + limits.requestTimeoutMs;
    else if (this.#requestStart !== 0) {
      this.#deadline = this.#requestStart + Math.min(limits.headerTimeoutMs, limits.requestTimeoutMs);
    } else this.#deadline = this.#host.clock.now + limits.keepAliveTimeoutMs;
  }

  /** A head over the limit: 414 when its request line alone is (the target is too long, as nginx says), else 431. */
  #tooLarge(): number {
    const lf = this.#buf.indexOf(10, this.#start);
    return lf < 0 || lf >= this.#end || lf - this.#start > this.#host.limits.maxHeaderBytes ? 414 : 431;
  }

  /** Refuses the request (and the connection) with a small error response. */
  #fail(status: number): void {
    this.#queue(errorResponse(status, this.#host.clock.date, 'Connection: close\r\n'));
    this.closeAfter = true;
    this.#host.refused(this, status);
  }

  // ---- output ----------------------------------------------------------------

  /** Queues response bytes (sent in order, batched with the other responses ready now). */
  queue(b: Buffer): void {
    this.#queue(b);
  }

  #queue(b: Buffer): void {
    this.#out.push(b);
    this.#outBytes += b.length;
  }

  #flush(): void {
    if (this.#sending || this.#out.length === 0 || this.#dead) return;
    // One send per batch of queued buffers. Buffers are often shared (a cached response), so
    // they are copied together only while the batch stays within SEND_BATCH: a first buffer
    // bigger than that goes out as it is, and a non-reading client holds at most one batch copy.
    const out = this.#out;
    let n = 1;
    let bytes = out[0]!.length;
    while (n < out.length && bytes + out[n]!.length <= SEND_BATCH) bytes += out[n++]!.length;
    const data = n === 1 ? out[0]! : Buffer.concat(out.slice(0, n), bytes);
    out.splice(0, n);
    this.#sending = true;
    this.#progressAt = this.#host.clock.now;
    this.#sendBuf = data;
    this.#sendOff = 0;
    this.#ring.send(this.#fd, data, undefined, this.#onSent);
  }

  readonly #onSent = (err: Error | null, n?: number): void => {
    if (this.#dead) return;
    if (err !== null) return this.destroy();
    const data = this.#sendBuf!;
    this.#sendOff += n!;
    this.#outBytes -= n!;
    this.#progressAt = this.#host.clock.now;
    if (this.#sendOff < data.length) {
      this.#sendOpts.offset = this.#sendOff;
      this.#sendOpts.length = data.length - this.#sendOff;
      this.#ring.send(this.#fd, data, this.#sendOpts, this.#onSent);
      return;
    }
    this.#sending = false;
    this.#sendBuf = undefined;
    if (this.#out.length > 0) return this.#flush();
    this.#wakeDrainWaiters();
    if (this.#busy) return;
    if (this.closeAfter) return this.#beginClose();
    if (this.#eof && this.#start === this.#end) return this.destroy();
    if (!this.#reading || this.#start !== this.#end) this.pump();
    else this.#setDeadline();
  };

  #wakeDrainWaiters(): void {
    const w = this.#drainWaiters;
    if (w === undefined) return;
    this.#drainWaiters = undefined;
    for (const f of w) f();
  }

  /** Resolves when everything queued so far is sent (or the connection died). */
  drained(): Promise<void> {
    this.#flush();
    if (this.#dead || (!this.#sending && this.#out.length === 0)) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  /** A sendFile begins: returns the signal that aborts it (send deadline, destroy). Pair with endTransfer(). */
  beginTransfer(): AbortSignal {
    const ac = new AbortController();
    this.#transfer = ac;
    this.#progressAt = this.#host.clock.now;
    return ac.signal;
  }

  /** Bytes of the transfer went out: the send deadline starts again. */
  progress(): void {
    this.#progressAt = this.#host.clock.now;
  }

  /** The transfer is over (its splices have settled): a connection destroyed meanwhile is closed now. */
  endTransfer(): void {
    if (this.#transfer === undefined) return;
    this.#transfer = undefined;
    if (this.#dead) this.#release();
  }

  // ---- closing ----------------------------------------------------------------

  /** After the last response: half-close (FIN after the data), drain input until EOF or LINGER_MS, then close. */
  #beginClose(): void {
    if (this.#dead || this.#lingering) return;
    if (this.#eof) return this.destroy();
    this.#lingering = true;
    this.#deadline = this.#host.clock.now + LINGER_MS;
    this.#ring.shutdown(this.#fd, SHUT_WR, undefined, (err) => {
      if (err !== null) return this.destroy();
      this.#start = this.#end = this.#reading ? this.#end : 0;
      this.#arm();
    });
  }

  /** Closes the connection now; a transfer in flight is aborted (and the socket closed when it settled). */
  destroy(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#deadline = 0;
    const t = this.#transfer;
    if (t !== undefined) {
      t.abort();
      this.#ring.shutdown(this.#fd, SHUT_RDWR, undefined, () => {}); // fails the splices; closed by endTransfer()
    } else this.#release();
    this.#wakeDrainWaiters();
    this.#host.removed(this);
  }

  /** Closes the socket (shutdown + close on the ring). */
  #release(): void {
    this.sock.destroy();
    this.#host.track(this.sock.close());
  }

  /** Sweeper: act on an expired deadline. */
  expire(now: number): void {
    if (this.#dead) return;
    const sendTimeout = this.#host.limits.sendTimeoutMs;
    if (this.#sending || this.#transfer !== undefined) {
      // No progress on our sends for too long: the peer does not read.
      if (sendTimeout > 0 && now - this.#progressAt > sendTimeout) this.destroy();
      return;
    }
    if (this.#busy) return;
    if (this.#deadline === 0 || now < this.#deadline) return;
    if (this.#lingering || this.#start === this.#end || this.#skip > 0) {
      // Linger over, idle keep-alive, or a request body still trickling in after its response: close.
      return this.destroy();
    }
    // A request head that did not arrive in time.
    this.#queue(errorResponse(408, this.#host.clock.date, 'Connection: close\r\n'));
    this.closeAfter = true;
    this.#start = this.#end = this.#reading ? this.#end : 0;
    this.#flush();
    if (!this.#sending) this.#beginClose();
  }

  /** Graceful shutdown: idle connections close now, busy ones after their current response. */
  shutdown(): void {
    if (this.#dead) return;
    if (this.#busy || this.#sending) this.closeAfter = true;
    else this.destroy();
  }
}
