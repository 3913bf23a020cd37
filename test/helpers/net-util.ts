/**
 * Helpers for the socket suites (test/net): echo servers, byte streams with
 * hashes, deadlines that turn a hang into a readable failure, temporary Unix
 * socket paths and child processes with a lowered fd limit.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

import type { Socket, TcpListener } from '../../src/index.js';
import { LIB_URL, runProcess, type ChildResult } from './child.js';
import { makeTempDir } from './tmp.js';

/** Rejects with `label` if `p` has not settled after `ms` (a generous bound against hangs, never a speed check). */
export function deadline<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Awaits `p`, which must reject; returns the rejection reason. */
export async function rejectionOf(p: Promise<unknown>, label: string): Promise<Error & Record<string, unknown>> {
  let value: unknown;
  try {
    value = await p;
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error(`${label}: expected a rejection, got ${String(value)}`);
}

/** A running echo server: every accepted socket echoes what it reads, then closes at EOF. */
export interface EchoServer {
  readonly accepted: number;
  readonly closed: number;
  /** Errors seen by per-connection handlers (they end that connection only). */
  readonly errors: unknown[];
  /** Settles when the accept loop ends (after listener.close()). */
  readonly loop: Promise<void>;
  /** Resolves once every accepted connection has been closed. */
  idle(): Promise<void>;
}

export function echoServer(listener: TcpListener, handler?: (s: Socket) => Promise<void>): EchoServer {
  let accepted = 0;
  let closed = 0;
  const errors: unknown[] = [];
  let waiters: (() => void)[] = [];
  const handle = handler ?? (async (s: Socket) => {
    for await (const chunk of s) await s.write(chunk);
  });
  const loop = (async () => {
    for await (const s of listener) {
      accepted++;
      void (async () => {
        try {
          await handle(s);
        } catch (e) {
          errors.push(e);
        } finally {
          await s.close().catch((e: unknown) => errors.push(e));
          closed++;
          if (closed === accepted) for (const w of waiters.splice(0)) w();
        }
      })();
    }
  })();
  return {
    get accepted() {
      return accepted;
    },
    get closed() {
      return closed;
    },
    errors,
    loop,
    idle: () => (closed === accepted ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
  };
}

/** Reads a socket to EOF (async iterator), hashing; returns byte count and hex SHA-256. */
export async function drain(s: Socket, onChunk?: (chunk: Buffer, index: number) => Promise<void> | void):
  Promise<{ bytes: number; sha256: string; chunks: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of s) {
    h.update(chunk);
    bytes += chunk.length;
    if (onChunk) await onChunk(chunk, chunks);
    chunks++;
  }
  return { bytes, sha256: h.digest('hex'), chunks };
}

/** Reads a socket to EOF with recv() into `buf`; returns everything received. */
export async function recvAll(s: Socket, size = 64 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = await s.recv(buf);
    if (n === 0) return Buffer.concat(parts);
    parts.push(buf.subarray(0, n));
  }
}

/** Reads exactly `n` bytes with recv(). */
export async function recvExactly(s: Socket, n: number): Promise<Buffer> {
  const out = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = await s.recv(out, { offset: got, length: n - got });
    if (r === 0) throw new Error(`EOF after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

/**
 * A deterministic stream of distinct chunks: chunk i is `size` bytes taken
 * from a random pool at an offset depending on i, with i stamped in its
 * first 8 bytes (so reordering or loss changes the hash).
 */
export class ChunkSource {
  readonly #pool: Buffer;
  readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(readonly size: number) {
    this.#pool = randomBytes(size * 2);
  }

  chunk(i: number): Buffer {
    const off = (i * 4099) % this.size;
    const b = Buffer.from(this.#pool.subarray(off, off + this.size));
    b.writeBigUInt64LE(BigInt(i), 0);
    this.hash.update(b);
    this.bytes += b.length;
    return b;
  }
}

/** A fresh directory for Unix socket files; remove() deletes it. */
export function sockDir(): { dir: string; file(name: string): string; remove(): void } {
  const { dir, remove } = makeTempDir('uk-net-');
  return { dir, file: (name) => path.join(dir, name), remove };
}

let abstractSeq = 0;
/** A Linux abstract socket name unique to this process and call. */
export function abstractName(tag: string): string {
  return `@uringkit-test-${tag}-${process.pid}-${++abstractSeq}-${randomBytes(4).toString('hex')}`;
}

/** True when the loopback interface has ::1 (IPv6 enabled). */
export function hasIPv6Loopback(): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6' && a.address === '::1'));
}

/**
 * Runs `code` (an ES module; `__LIB__` becomes the library URL) in a child
 * Node process, optionally with RLIMIT_NOFILE lowered to `nofile` (soft and
 * hard) through the shell's `ulimit -n`. SIGKILLed after `timeoutMs`.
 */
export function runNetChild(code: string, timeoutMs: number, nofile?: number): Promise<ChildResult> {
  const src = code.replaceAll('__LIB__', JSON.stringify(LIB_URL));
  const nodeArgs = ['--input-type=module', '-e', src];
  const [cmd, args] = nofile === undefined
    ? [process.execPath, nodeArgs]
    : ['/bin/sh', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, process.execPath, ...nodeArgs]];
  return runProcess(cmd, args, timeoutMs);
}

/** The last line of a child's stdout that parses as JSON with a `result` key. */
export function childResult<T>(r: ChildResult): T | undefined {
  for (const line of r.stdout.trim().split('\n').reverse()) {
    try {
      const v = JSON.parse(line) as { result?: T };
      if (v && typeof v === 'object' && 'result' in v) return v.result;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** A delay on a JS timer (not the ring under test). */
export { delay as sleep } from './loop.js';
