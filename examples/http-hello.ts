/**
 * A minimal keep-alive HTTP/1.1 "hello world" server on uringkit sockets
 * (the subject of the net benchmark's http-hello case).
 *
 *   node dist/examples/http-hello.js [port] [host]     (or PORT / HOST; default 8080, 127.0.0.1)
 *
 * Port 0 picks a free port. Prints `listening on HOST:PORT` once bound.
 *
 * - Requests are framed by "\r\n\r\n" in the received chunks; several in one
 *   chunk (pipelining) are answered with one write, a request split across
 *   chunks is kept until it is complete.
 * - GET and HEAD answer 200 with the 11-byte body "hello world" (HEAD: no
 *   body). Anything else: 405 and the connection is closed (a request body
 *   is never read, so framing could not go on).
 * - Keep-alive by default (HTTP/1.1); `Connection: close`, or HTTP/1.0
 *   without `Connection: keep-alive`, closes after the response.
 * - Responses are pre-built Buffers (the Date header is refreshed once a
 *   second); TCP_NODELAY on every connection.
 * - Plain Socket API: `for await (const chunk of socket)` (multishot recv)
 *   and `socket.write(buf, undefined, callback)` (the callback form: no
 *   Promise per response).
 */
import { Socket, TcpListener } from '../src/index.js';

const port = Number(process.argv[2] ?? process.env['PORT'] ?? 8080);
const host = process.argv[3] ?? process.env['HOST'] ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad port ${process.argv[2] ?? process.env['PORT']}`);
  process.exit(2);
}

const BODY = 'hello world';
/** Largest request head accepted (the rest is answered 431 and closed). */
const MAX_HEAD = 16 * 1024;
/** Responses queued on one connection before it stops reading (backpressure). */
const MAX_QUEUED = 32;
/** Pipelined responses pre-concatenated (a batch of more is built on demand). */
const MAX_BATCH = 16;

const CR = 13;
const LF = 10;
const CRLFCRLF = Buffer.from('\r\n\r\n');

// ---- pre-built responses -------------------------------------------------------

interface Responses {
  /** get[n - 1]: n GET responses back to back. */
  get: Buffer[];
  head: Buffer;
  getClose: Buffer;
  headClose: Buffer;
}

let responses: Responses;

function build(): void {
  const date = new Date().toUTCString();
  const common = `Date: ${date}\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n`;
  const get = Buffer.from(`HTTP/1.1 200 OK\r\n${common}\r\n${BODY}`, 'latin1');
  responses = {
    get: Array.from({ length: MAX_BATCH }, (_, i) => (i === 0 ? get : Buffer.concat(new Array<Buffer>(i + 1).fill(get)))),
    head: Buffer.from(`HTTP/1.1 200 OK\r\n${common}\r\n`, 'latin1'),
    getClose: Buffer.from(`HTTP/1.1 200 OK\r\n${common}Connection: close\r\n\r\n${BODY}`, 'latin1'),
    headClose: Buffer.from(`HTTP/1.1 200 OK\r\n${common}Connection: close\r\n\r\n`, 'latin1'),
  };
}
build();
setInterval(build, 1000).unref();

const NOT_ALLOWED = Buffer.from(
  'HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 'latin1');
const TOO_LARGE = Buffer.from(
  'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 'latin1');
const BAD_REQUEST = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 'latin1');

// ---- parsing ---------------------------------------------------------------------

const enum Kind { GET, HEAD, OTHER, BAD }

function methodOf(b: Buffer, start: number): Kind {
  // "GET " / "HEAD "
  if (b[start] === 71 && b[start + 1] === 69 && b[start + 2] === 84 && b[start + 3] === 32) return Kind.GET;
  if (b[start] === 72 && b[start + 1] === 69 && b[start + 2] === 65 && b[start + 3] === 68 && b[start + 4] === 32) {
    return Kind.HEAD;
  }
  const c = b[start]!;
  return c >= 65 && c <= 90 ? Kind.OTHER : Kind.BAD;
}

/** Lower-case ASCII letter at b[i] equals `c` (a lower-case letter). */
function is(b: Buffer, i: number, c: number): boolean {
  return (b[i]! | 0x20) === c;
}

/**
 * Whether the connection stays open after this request: HTTP/1.1 unless
 * "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
 * `start` is the request's first byte, `end` the index of its "\r\n\r\n".
 */
function keepAlive(b: Buffer, start: number, end: number): boolean {
  const lineEnd = b.indexOf(CR, start);
  // "... HTTP/1.0\r\n": the version's last digit just before the CR.
  const http10 = lineEnd > start + 8 && b[lineEnd - 1] === 48 && b[lineEnd - 3] === 49;
  let keep = !http10;
  // Header lines: look only at those starting with 'c' and 11 bytes long before ':'.
  for (let i = lineEnd + 2; i < end; ) {
    if (is(b, i, 99) && b[i + 10] === 58 && is(b, i + 1, 111) && is(b, i + 2, 110) && is(b, i + 3, 110) &&
      is(b, i + 4, 101) && is(b, i + 5, 99) && is(b, i + 6, 116) && is(b, i + 7, 105) && is(b, i + 8, 111) &&
      is(b, i + 9, 110)) {
      const v = b.toString('latin1', i + 11, b.indexOf(CR, i + 11)).trim().toLowerCase();
      for (const tok of v.split(',')) {
        const t = tok.trim();
        if (t === 'close') keep = false;
        else if (t === 'keep-alive') keep = true;
      }
    }
    const next = b.indexOf(LF, i);
    if (next < 0 || next >= end) break;
    i = next + 1;
  }
  return keep;
}

// ---- connections -----------------------------------------------------------------

/**
 * One connection: the Socket's async iterator (multishot recv into the
 * ring's provided buffers) and the callback form of write() (no Promise per
 * response; the Socket keeps writes in order and continues short sends).
 */
class Conn {
  readonly #s: Socket;
  #pending: Buffer | undefined; // an incomplete request head
  #failed = false;
  readonly #onWritten = (err: Error | null): void => {
    if (err) this.#failed = true;
  };

  constructor(s: Socket) {
    this.#s = s;
  }

  #write(b: Buffer): void {
    if (!this.#failed) this.#s.write(b, undefined, this.#onWritten);
  }

  /** Handles one received chunk; returns false when the connection must close. */
  #onChunk(chunk: Buffer): boolean {
    let buf = chunk;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    let start = 0;
    let gets = 0; // GET responses not yet written (batched)
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, start);
      if (end < 0) break;
      const kind = methodOf(buf, start);
      if (kind !== Kind.GET && kind !== Kind.HEAD) {
        if (gets > 0) this.#write(responses.get[gets - 1]!);
        this.#write(kind === Kind.OTHER ? NOT_ALLOWED : BAD_REQUEST);
        return false;
      }
      const keep = keepAlive(buf, start, end);
      if (kind === Kind.GET && keep) {
        if (++gets === MAX_BATCH) {
          this.#write(responses.get[MAX_BATCH - 1]!);
          gets = 0;
        }
      } else {
        if (gets > 0) this.#write(responses.get[gets - 1]!);
        gets = 0;
        if (!keep) {
          this.#write(kind === Kind.GET ? responses.getClose : responses.headClose);
          return false;
        }
        this.#write(responses.head);
      }
      start = end + 4;
    }
    if (gets > 0) this.#write(responses.get[gets - 1]!);
    if (start < buf.length) {
      if (buf.length - start > MAX_HEAD) {
        this.#write(TOO_LARGE);
        return false;
      }
      this.#pending = buf.subarray(start);
    }
    return !this.#failed;
  }

  async serve(): Promise<void> {
    const s = this.#s;
    try {
      for await (const chunk of s) {
        if (!this.#onChunk(chunk)) break;
        // Backpressure: a peer that sends without reading stops being read.
        if (s.pendingWrites > MAX_QUEUED) await s.drain();
      }
    } catch {
      // ECONNRESET and the like: the connection is over
    }
    if (this.#failed) s.destroy();
    else await s.close(); // after the queued responses
  }
}

const listener = TcpListener.bind({ host, port, backlog: 1024, socket: { noDelay: true } });
const stop = (): void => void listener.close();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const addr = listener.address();
console.log(`listening on ${addr.address}:${addr.port}`);
for await (const s of listener) void new Conn(s).serve();
