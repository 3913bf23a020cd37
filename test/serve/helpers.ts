/**
 * Helpers for the serve suites: a fixture tree (small files, a big one for
 * sendFile, a listing with awkward names, symbolic links inside and outside
 * the root), a raw HTTP/1.1 client over node:net that reads responses one by
 * one off one connection (keep-alive, pipelining, malformed requests), and
 * the CLI in a child process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { StaticServer } from '../../src/serve/server.js';
import { tmpDir, type TmpDir } from '../helpers/fs-util.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = path.join(REPO, 'bin', 'uringkit.js');

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random bytes (xorshift32). */
export function pseudoRandom(size: number, seed = 0x9e3779b9): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed | 0;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b.writeInt32LE(x, i);
  }
  for (; i < size; i++) b[i] = i & 0xff;
  return b;
}

export interface Fixture {
  tmp: TmpDir;
  /** The served root. */
  root: string;
  /** A directory next to the root (never served). */
  outside: string;
  files: Record<string, Buffer>;
  remove(): void;
}

/** Names in the listing directory that need escaping. */
export const AWKWARD_NAMES = ['a&b <c>.txt', 'sp ace.txt', 'q"uote\'s.txt', 'ünïcödé.txt', '100%.txt'];

export function makeFixture(bigSize = 8 * 1024 * 1024): Fixture {
  const tmp = tmpDir('uringkit-serve-');
  const root = path.join(tmp.dir, 'root');
  const outside = path.join(tmp.dir, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  const files: Record<string, Buffer> = {
    'hello.txt': Buffer.from('Hello, uringkit serve!\n'),
    'style.css': Buffer.from('body { color: #123; }\n'),
    'empty.txt': Buffer.alloc(0),
    'data.bin': pseudoRandom(10_000, 7),
    'mid.bin': pseudoRandom(200 * 1024, 11), // above the sendFile threshold
    'big.bin': pseudoRandom(bigSize, 13),
    'dir/index.html': Buffer.from('<!doctype html><title>dir</title><p>index of dir\n'),
    'dir/other.txt': Buffer.from('other\n'),
    'list/plain.txt': Buffer.from('plain file in the listing\n'),
    'list/sub/nested.txt': Buffer.from('nested\n'),
  };
  for (const n of AWKWARD_NAMES) files[`list/${n}`] = Buffer.from(`content of ${n}\n`);
  for (const [name, data] of Object.entries(files)) {
    const p = path.join(root, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
  }
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'TOP SECRET outside the root\n');
  fs.symlinkSync(path.join(root, 'hello.txt'), path.join(root, 'link-in.txt'));
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'link-out.txt'));
  fs.symlinkSync(outside, path.join(root, 'linkdir-out'));
  fs.symlinkSync('../../outside/secret.txt', path.join(root, 'list', 'rel-out.txt'));
  return { tmp, root, outside, files, remove: () => tmp.remove() };
}

// ---- a raw HTTP client ------------------------------------------------------------

export interface RawResponse {
  status: number;
  reason: string;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * One TCP connection; `response()` parses the next response off it
 * (Content-Length framing, or to EOF without one). Pass `head: true` for the
 * response to a HEAD request (no body whatever its headers say).
 */
export class RawClient {
  readonly sock: net.Socket;
  // Received bytes as a list of chunks (joined only when needed: big bodies stay linear).
  #parts: Buffer[] = [];
  #total = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  readonly closed: Promise<void>;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      this.#parts.push(d);
      this.#total += d.length;
      this.#poke();
    });
    this.closed = new Promise<void>((resolve) => {
      sock.on('close', () => {
        this.#ended = true;
        this.#poke();
        resolve();
      });
    });
    sock.on('end', () => {
      this.#ended = true;
      this.#poke();
    });
    sock.on('error', (e) => {
      this.#error = e;
      this.#poke();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => {
        s.off('error', reject);
        s.setNoDelay(true);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #flat(): Buffer {
    if (this.#parts.length > 1) this.#parts = [Buffer.concat(this.#parts, this.#total)];
    return this.#parts[0] ?? Buffer.alloc(0);
  }

  #consume(n: number): Buffer {
    const b = this.#flat();
    const rest = b.subarray(n);
    this.#parts = rest.length > 0 ? [rest] : [];
    this.#total -= n;
    return b.subarray(0, n);
  }

  async #more(): Promise<void> {
    if (this.#ended) {
      throw new Error(`connection closed (buffered ${this.#total} bytes: ${JSON.stringify(this.#flat().toString('latin1', 0, 120))})`);
    }
    if (this.#error) throw this.#error;
    await new Promise<void>((r) => (this.#wake = r));
  }

  /** Resolves at the first bytes received from now on, pausing the socket there (resume() to go on). */
  pauseAtFirstData(): Promise<void> {
    return new Promise((resolve) => {
      this.sock.once('data', () => {
        this.sock.pause();
        resolve();
      });
    });
  }

  /** True once the server closed its side. */
  get ended(): boolean {
    return this.#ended;
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  async response(options: { head?: boolean } = {}): Promise<RawResponse> {
    let he: number;
    while ((he = this.#flat().indexOf('\r\n\r\n')) < 0) await this.#more();
    const text = this.#consume(he + 4).toString('latin1', 0, he);
    const [statusLine, ...lines] = text.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine!);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const c = l.indexOf(':');
      const k = l.slice(0, c).trim().toLowerCase();
      const v = l.slice(c + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const status = Number(m[1]);
    let body: Buffer;
    if (options.head || status === 304 || status === 204 || status < 200) {
      body = Buffer.alloc(0);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      while (this.#total < n) await this.#more();
      body = this.#consume(n);
    } else {
      while (!this.#ended) await this.#more().catch(() => {});
      body = this.#consume(this.#total);
    }
    return { status, reason: m[2]!, headers, body };
  }

  /** One request on this connection, its response. */
  async request(method: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    this.write(requestText(method, target, headers));
    return this.response({ head: method === 'HEAD' });
  }

  /** Resolves when the server closed the connection (rejects after `ms`, a hang guard). */
  async waitClosed(ms = 20_000): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error(`the server did not close the connection within ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(t));
  }

  destroy(): void {
    this.sock.destroy();
  }
}

export function requestText(method: string, target: string, headers: Record<string, string> = {}): string {
  const h = { Host: 'localhost', ...headers };
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/** One request on a fresh connection (then closed). */
export async function rawOnce(port: number, text: string | Buffer, head = false): Promise<RawResponse & { closed: boolean }> {
  const c = await RawClient.connect(port);
  try {
    c.write(text);
    const r = await c.response({ head });
    return { ...r, closed: c.ended };
  } finally {
    c.destroy();
  }
}

// ---- the CLI in a child process ------------------------------------------------

export interface CliChild {
  child: ChildProcess;
  url: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node bin/uringkit.js serve ...args` and waits for the URL line (rejects if it exits first). */
export function startCli(args: string[], execPath = process.execPath, ms = 30_000): Promise<CliChild> {
  const child = spawn(execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  let out = '';
  let err = '';
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no URL printed within ${ms} ms; stdout: ${out}; stderr: ${err}`));
    }, ms);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m !== null) {
        clearTimeout(t);
        resolve({ child, url: m[0], port: Number(m[1]), stdout: () => out, stderr: () => err, exit });
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    void exit.then(({ code, signal }) => {
      clearTimeout(t);
      reject(new Error(`the CLI exited (code ${code}, signal ${signal}) before printing its URL; stdout: ${out}; stderr: ${err}`));
    });
  });
}

/** Bounds a promise (a hang guard, not a speed check). */
export function within<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, rej) => {
      t = setTimeout(() => rej(new Error(`${label}: still pending after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// ---- a StaticServer in this process, or in a child ------------------------------------

/** Runs `fn` against a StaticServer on `root` (port 0), closes it, and checks it recorded no server-side error. */
export async function withServer(root: string, o: Parameters<typeof StaticServer.start>[0],
  fn: (s: StaticServer) => Promise<void>): Promise<void> {
  const s = StaticServer.start({ root, port: 0, ...o });
  try {
    await fn(s);
  } finally {
    await s.close({ timeoutMs: 5000 });
  }
  assert.deepEqual(s.errors, [], 'unexpected server-side errors');
}

export const CHILD_SERVER = fileURLToPath(new URL('./child-server.js', import.meta.url));

export interface ChildServer {
  child: ChildProcess;
  port: number;
  /** Descriptors the child had open once listening. */
  fds: number;
  stdout: () => string;
  stderr: () => string;
  /** The exit code. */
  exited: Promise<number | null>;
}

/**
 * Starts child-server.js on `root` with `options`: under `prlimit --nofile=N`
 * when `nofile` is given, as another user when `uid` is. Resolves once it
 * listens (a hang guard rejects after 30 s). The caller kills it.
 */
export async function startChildServer(root: string, options: object,
  how: { nofile?: number; uid?: number } = {}): Promise<ChildServer> {
  const args = [CHILD_SERVER, root, JSON.stringify(options)];
  const child = how.nofile === undefined
    ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], uid: how.uid, gid: how.uid })
    : spawn('prlimit', [`--nofile=${how.nofile}:${how.nofile}`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await within((async () => {
      while (!/ready \d+ \d+\n/.test(out)) {
        if (child.exitCode !== null) throw new Error(`the child exited: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })(), 30_000, 'the child server');
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const [, port, fds] = /ready (\d+) (\d+)/.exec(out)!.map(Number) as [number, number, number];
  return { child, port, fds, stdout: () => out, stderr: () => err, exited };
}
