/**
 * The conformance fixture: one set of test bodies, run against every
 * backend. `backends()` yields one fixture per backend — the io_uring addon
 * (real temp directories, a FIFO for "never ready") and the MockBackend (its
 * in-memory file system, a pollable fd, the virtual clock with autoAdvance so
 * that sleeps and deadlines take no real time). Bodies reach the file system
 * and time only through the fixture, so they cannot tell which backend runs
 * them except where a documented difference is asserted: a fixture names the
 * cases it handles differently (`differs(name)`, the DIFF_* names below,
 * each a row of the table in docs/guides/testing-with-mock.md), and the body
 * asserts the documented behaviour instead of skipping.
 *
 * A new backend adds a fixture class here (its `name` is in the union) and
 * lists its own documented differences.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { afterEach, describe } from 'node:test';

import { drainSendFilePipes, POLL, Ring, setDefaultBackend, type RingOptions } from '../../src/index.js';
import { MockBackend } from '../../src/testing.js';
import { PortableBackend, portableBackend } from '../../src/backend/portable/index.js';
import { makeFifo, type Fifo } from '../helpers/fifo.js';

/** An fd that is not readable until makeReadable() is called. */
export interface IdleFd {
  readonly fd: number;
  makeReadable(): void;
}

/** Cases a backend may handle differently; a fixture's `differs()` returns its documented behaviour. */
export const DIFF_SENDFILE = 'sendFile';
export const DIFF_WORKER_MESSAGES = 'messages from a worker thread';
export const DIFF_FOREIGN_FD = 'an fd the backend did not open';
export const DIFF_PERMISSIONS = 'permission checks';
export const DIFF_STAT_IDENTITY = 'stat dev, uid and gid';
export const DIFF_UMASK = 'umask';
export const DIFF_RING_INFO = 'ring.info.fd';
export const DIFF_REUSEPORT = 'SO_REUSEPORT';

export type BackendName = 'io_uring' | 'portable' | 'mock';

export interface BackendFixture {
  readonly name: BackendName;
  /**
   * The documented difference of case `name` on this backend (a short
   * statement, as in the docs table), or undefined when it behaves as
   * io_uring does.
   */
  differs(name: string): string | undefined;
  /**
   * Makes a ring of this backend the thread's `Ring.current()` for the rest
   * of the test (Notifier and Channel send from Ring.current()) and returns it.
   * Teardown closes it and restores the default backend.
   */
  currentRing(): Promise<Ring>;
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
  abstract readonly name: BackendName;
  protected rings: Ring[] = [];
  protected differences = new Map<string, string>();

  differs(name: string): string | undefined {
    return this.differences.get(name);
  }

  makeRing(options: Omit<RingOptions, 'backend'> = {}): Ring {
    const r = new Ring({ entries: 64, ...options, backend: this.backend() });
    this.rings.push(r);
    return r;
  }

  protected abstract backend(): RingOptions['backend'];

  async currentRing(): Promise<Ring> {
    const b = this.backend();
    setDefaultBackend(typeof b === 'string' ? undefined : b);
    // A named backend is asked for by name: UK_BACKEND=node must not turn the io_uring fixture's ring portable.
    const options = typeof b === 'string' ? { backend: b } : undefined;
    let r = Ring.current(options);
    if (r.info.backend !== this.name) {
      // A ring of another backend is current on this thread: replace it for the test.
      await r.close();
      r = Ring.current(options);
    }
    this.rings.push(r);
    return r;
  }

  protected async closeRings(): Promise<void> {
    const rings = this.rings;
    this.rings = [];
    // sendFile keeps idle pipes per ring by design: close them, so leak checks see only real leaks.
    for (const r of rings) drainSendFilePipes(r);
    await Promise.all(rings.map((r) => r.close()));
    setDefaultBackend(undefined);
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
 * Whether this Node's net.Server#listen has `reusePort` (libuv's
 * UV_TCP_REUSEPORT): Node 22.12+ in the 22 line, 23.1+ and later. Decided from
 * the version, independently of the backend's own check, so the test can fail.
 */
function nodeHasReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
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

  constructor() {
    super();
    this.differences.set(DIFF_RING_INFO, 'no kernel ring behind it: info.fd is -1');
    if (!nodeHasReusePort()) {
      this.differences.set(DIFF_REUSEPORT,
        `SO_REUSEPORT needs Node >= 22.12 (libuv's UV_TCP_REUSEPORT); on Node ${process.versions.node} ` +
        'setsockopt refuses it with ENOPROTOOPT');
    }
  }

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
const MOCK_FD_BASE = 1 << 21;

class MockFixture extends Base implements BackendFixture {
  readonly name = 'mock' as const;
  readonly skip = undefined;
  #mock = MockFixture.#fresh();
  #dirs = 0;
  #idle: number[] = [];

  constructor() {
    super();
    this.differences.set(DIFF_SENDFILE,
      'no splice model: sendFile rejects with ENOSYS (syscall splice) unless a splice handler is installed');
    this.differences.set(DIFF_WORKER_MESSAGES,
      'a mock ring lives in one thread: a worker (another backend) sending to it gets ERR_RING_CLOSED');
    this.differences.set(DIFF_FOREIGN_FD, 'its own fd table: a real fd of the process is EBADF');
    this.differences.set(DIFF_PERMISSIONS, 'no permission model: everything runs as root');
    this.differences.set(DIFF_STAT_IDENTITY, 'dev 0:0x4d, uid and gid 0');
    this.differences.set(DIFF_UMASK, 'umask 0o022 (option fs.umask), not the process umask');
    this.differences.set(DIFF_RING_INFO, 'a mock ring has no fd: info.fd is -1');
  }

  /**
   * fdBase far above any real fd (fs.nr_open is at most 2^20): code that
   * closes a mock fd with node:fs (sendFile's pipe pool does) then gets EBADF
   * instead of closing one of this process's real fds.
   */
  static #fresh(): MockBackend {
    return new MockBackend({ seed: MOCK_SEED, autoAdvance: true, fdBase: MOCK_FD_BASE });
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

/**
 * `describe('conformance: <area> [<backend>]')` for one fixture: skipped
 * with the fixture's reason, torn down after every test.
 */
export function describeBackend(b: BackendFixture, area: string, fn: () => void): void {
  describe(`conformance: ${area} [${b.name}${b.name === 'mock' ? ` seed=${MOCK_SEED}` : ''}]`, { skip: b.skip }, () => {
    afterEach(() => b.teardown());
    fn();
  });
}
