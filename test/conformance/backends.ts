/**
 * The conformance fixture: one set of test bodies, run against every
 * backend. `backends()` yields one fixture per backend — the io_uring addon
 * (real temp directories, a FIFO for "never ready") and the MockBackend (its
 * in-memory file system, a pollable fd, the virtual clock with autoAdvance so
 * that sleeps and deadlines take no real time). Bodies reach the file system
 * and time only through the fixture, so they cannot tell which backend runs
 * them except where a documented difference is asserted via `name`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { POLL, Ring, type RingOptions } from '../../src/index.js';
import { MockBackend } from '../../src/testing.js';
import { PortableBackend, portableBackend } from '../../src/backend/portable/index.js';
import { makeFifo, type Fifo } from '../helpers/fifo.js';

/** An fd that is not readable until makeReadable() is called. */
export interface IdleFd {
  readonly fd: number;
  makeReadable(): void;
}

export interface BackendFixture {
  readonly name: 'io_uring' | 'portable' | 'mock';
  /** Why the backend cannot run here (its suite is skipped), or undefined. */
  readonly skip: string | undefined;
  /** A ring on this backend; closed by teardown() unless the test closed it. */
  makeRing(options?: Omit<RingOptions, 'backend'>): Ring;
  /** A fresh, empty directory (absolute path) in the backend's file system. */
  dir(): string;
  /** Setup and assertions, synchronously, in the backend's file system. */
  writeFile(p: string, data: string | Uint8Array): void;
  readFile(p: string): Buffer;
  exists(p: string): boolean;
  mkdir(p: string): void;
  /** An fd that never becomes readable by itself. */
  idleFd(): IdleFd;
  /** Milliseconds on the backend's clock (real for io_uring, virtual for the mock). */
  now(): number;
  /** The mock (mock fixture only). */
  readonly mock: MockBackend | undefined;
  /** Closes rings and fds, removes directories; the mock also checks for leaked fds. */
  teardown(): Promise<void>;
}

let uringSkip: string | undefined | null = null;

/** Whether io_uring works in this process (once). */
function probeUring(): string | undefined {
  if (uringSkip === null) {
    try {
      void new Ring({ entries: 2, backend: 'io_uring' }).close();
      uringSkip = undefined;
    } catch (e) {
      uringSkip = `io_uring unavailable: ${(e as Error).message}`;
    }
  }
  return uringSkip;
}

abstract class Base {
  protected rings: Ring[] = [];

  makeRing(options: Omit<RingOptions, 'backend'> = {}): Ring {
    const r = new Ring({ entries: 64, ...options, backend: this.backend() });
    this.rings.push(r);
    return r;
  }

  protected abstract backend(): RingOptions['backend'];

  protected async closeRings(): Promise<void> {
    const rings = this.rings;
    this.rings = [];
    await Promise.all(rings.map((r) => r.close()));
  }
}

class UringFixture extends Base implements BackendFixture {
  readonly name: BackendFixture['name'] = 'io_uring';
  readonly mock = undefined;
  #dirs: string[] = [];
  #fifos: Fifo[] = [];

  get skip(): string | undefined {
    return probeUring();
  }

  protected backend(): RingOptions['backend'] {
    return 'io_uring';
  }

  dir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'uringkit-conformance-'));
    this.#dirs.push(d);
    return d;
  }

  writeFile(p: string, data: string | Uint8Array): void {
    fs.writeFileSync(p, data);
  }

  readFile(p: string): Buffer {
    return fs.readFileSync(p);
  }

  exists(p: string): boolean {
    return fs.existsSync(p);
  }

  mkdir(p: string): void {
    fs.mkdirSync(p, { recursive: true });
  }

  idleFd(): IdleFd {
    const f = makeFifo();
    this.#fifos.push(f);
    return { fd: f.fd, makeReadable: () => f.write('x') };
  }

  now(): number {
    return performance.now();
  }

  async teardown(): Promise<void> {
    await this.closeRings();
    for (const f of this.#fifos.splice(0)) f.close();
    for (const d of this.#dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}

/**
 * The portable backend (Node's own I/O): real temp directories, real time;
 * "never ready" is the read end of one of its own in-memory pipes (poll on an
 * arbitrary fd is refused on this backend), made readable by writing into the
 * write end through the ring.
 */
class PortableFixture extends UringFixture {
  override readonly name: BackendFixture['name'] = 'portable';
  #pipes: number[] = [];
  #backend: PortableBackend = portableBackend();

  override get skip(): string | undefined {
    return undefined;
  }

  protected override backend(): RingOptions['backend'] {
    return this.#backend;
  }

  override idleFd(): IdleFd {
    const p = this.#backend.sys.pipe(0);
    if (typeof p === 'number') throw new Error(`portable pipe(): ${p}`);
    this.#pipes.push(p[0], p[1]);
    const ring = this.rings[0] ?? this.makeRing();
    return { fd: p[0], makeReadable: () => void ring.write(p[1], Buffer.from('x')) };
  }

  override async teardown(): Promise<void> {
    const pipes = this.#pipes.splice(0);
    if (pipes.length > 0) {
      const r = this.makeRing();
      await Promise.all(pipes.map((fd) => r.closeFd(fd).catch(() => {})));
    }
    await super.teardown();
    const left = this.#backend.openHandles();
    if (left.length > 0) {
      throw new Error(`PortableBackend: ${left.length} handle(s) leaked: ${JSON.stringify(left)}`);
    }
  }
}

const MOCK_SEED = Number(process.env.URINGKIT_MOCK_SEED ?? 0x5eed);

class MockFixture extends Base implements BackendFixture {
  readonly name = 'mock' as const;
  readonly skip = undefined;
  #mock = MockFixture.#fresh();
  #dirs = 0;
  #idle: number[] = [];

  static #fresh(): MockBackend {
    return new MockBackend({ seed: MOCK_SEED, autoAdvance: true });
  }

  get mock(): MockBackend {
    return this.#mock;
  }

  protected backend(): RingOptions['backend'] {
    return this.#mock;
  }

  dir(): string {
    const d = `/tmp/uringkit-conformance-${++this.#dirs}`;
    this.#mock.fs.mkdir(d);
    return d;
  }

  writeFile(p: string, data: string | Uint8Array): void {
    this.#mock.fs.writeFile(p, data);
  }

  readFile(p: string): Buffer {
    return this.#mock.fs.readFile(p);
  }

  exists(p: string): boolean {
    return this.#mock.fs.exists(p);
  }

  mkdir(p: string): void {
    this.#mock.fs.mkdir(p);
  }

  idleFd(): IdleFd {
    const fd = this.#mock.openPollable('idle');
    this.#idle.push(fd);
    return { fd, makeReadable: () => this.#mock.setReady(fd, POLL.IN) };
  }

  now(): number {
    return this.#mock.clock.now();
  }

  async teardown(): Promise<void> {
    const mock = this.#mock;
    try {
      await this.closeRings();
      for (const fd of this.#idle.splice(0)) mock.closeFd(fd);
      mock.assertNoLeaks();
    } catch (e) {
      console.error(mock.describe());
      throw e;
    } finally {
      this.#mock = MockFixture.#fresh();
      this.#dirs = 0;
    }
  }
}

/** One fixture per backend: io_uring first, then the portable backend, then the mock. */
export function backends(): BackendFixture[] {
  return [new UringFixture(), new PortableFixture(), new MockFixture()];
}

/** Settles a promise into a record, for asserting on rejections. */
export function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error & Record<string, unknown> }> {
  return p.then((value) => ({ ok: true as const, value }),
    (error: Error & Record<string, unknown>) => ({ ok: false as const, error }));
}

/** The Node-style fields of an error (code, errno, syscall, path, dest), for deepEqual. */
export function shape(e: unknown): Record<string, unknown> {
  const o = e as Record<string, unknown>;
  const out: Record<string, unknown> = { name: o.name, code: o.code, errno: o.errno, syscall: o.syscall };
  if ('path' in o) out.path = o.path;
  if ('dest' in o) out.dest = o.dest;
  return out;
}

export { MOCK_SEED };
