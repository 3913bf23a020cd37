/**
 * withMock(): runs a test body against a fresh MockBackend and Ring, then
 * closes the ring and checks for leaked fds, unhandled operations and
 * handler errors. When anything fails, the mock's seed and state are
 * reported (t.diagnostic and appended to the error), so the run can be
 * replayed with `new MockBackend({ seed })` or URINGKIT_MOCK_SEED.
 *
 * It sits above the runtime (it creates Rings, as the user's code does), so
 * it lives beside the `uringkit/testing` entry, not in the mock backend,
 * which depends on nothing above src/backend.
 */
import { Ring, setDefaultBackend, type RingOptions } from '../index.js';
import type { MockBackendOptions } from '../backend/mock/backend.js';
import { MockBackend } from './mock-backend.js';

/** What withMock needs from node:test's TestContext (any object with diagnostic() will do). */
export interface MockTestContext {
  diagnostic(message: string): void;
}

export interface WithMockOptions extends MockBackendOptions {
  /** Options of the Ring created for the test (its backend is the mock). */
  ring?: Omit<RingOptions, 'backend'>;
  /**
   * Also make the mock the default backend, so code that uses
   * `Ring.current()` (File.open, readFile ... without a `ring` option) runs
   * on it. The default is restored afterwards. Only affects rings created
   * during the test: call it before the code under test first touches
   * Ring.current(). Default false.
   */
  setDefault?: boolean;
  /** Fail the test when fds are left open. Default true. */
  checkLeaks?: boolean;
  /** Do not fail the test for operations without a handler or model (they still fail with ENOSYS). Default false. */
  allowUnhandled?: boolean;
}

/**
 * Runs `fn(mock, ring)`; resolves with its result or rejects with its error
 * (or a leak / unhandled-operation error), annotated with the mock's seed.
 *
 * ```ts
 * test('retries a failed write', (t) => withMock(t, async (mock, ring) => {
 *   mock.faults.add({ op: 'write', errno: 'EIO', times: 1 });
 *   await saveConfig(ring, '/etc/app.json', { a: 1 });
 *   assert.equal(mock.fs.readFile('/etc/app.json', 'utf8'), '{"a":1}');
 * }));
 * ```
 */
export async function withMock<T>(t: MockTestContext, fn: (mock: MockBackend, ring: Ring) => T | Promise<T>,
  options: WithMockOptions = {}): Promise<T> {
  const { ring: ringOptions, setDefault, checkLeaks, allowUnhandled, ...mockOptions } = options;
  const mock = new MockBackend(mockOptions);
  const ring = new Ring({ ...ringOptions, backend: mock });
  if (setDefault === true) setDefaultBackend(mock);
  let result: T | undefined;
  let failure: unknown;
  let failed = false;
  try {
    result = await fn(mock, ring);
  } catch (e) {
    failed = true;
    failure = e;
  }
  try {
    await closeOnMock(mock, ring);
    if (setDefault === true) {
      const current = Ring.current();
      // info.fd is -1 only for a mock ring: never close a real ring created before the test.
      if (current.info.fd === -1) await closeOnMock(mock, current);
    }
  } catch (e) {
    if (!failed) {
      failed = true;
      failure = e;
    }
  } finally {
    if (setDefault === true) setDefaultBackend(undefined);
  }
  const firstUnhandled = mock.unhandled[0];
  if (firstUnhandled !== undefined && allowUnhandled !== true) {
    // The ring only saw ENOSYS: say which operation lacked a handler.
    const err = new Error(firstUnhandled.message +
      (mock.unhandled.length > 1 ? ` (and ${mock.unhandled.length - 1} more unhandled operations)` : ''),
    failed ? { cause: failure } : undefined);
    failed = true;
    failure = err;
  } else if (!failed && mock.errors.length > 0) {
    failed = true;
    failure = mock.errors[0];
  } else if (!failed && checkLeaks !== false) {
    try {
      mock.assertNoLeaks();
    } catch (e) {
      failed = true;
      failure = e;
    }
  }
  if (failed) {
    for (const line of mock.describe().split('\n')) t.diagnostic(line);
    throw annotate(failure, mock.seed);
  }
  return result as T;
}

/**
 * ring.close(), moving a virtual clock along when what is left in flight can
 * only finish by time (an `uncancellable` reply with a delay), and failing
 * instead of hanging when nothing can finish it.
 */
async function closeOnMock(mock: MockBackend, ring: Ring): Promise<void> {
  let closed = false;
  const closing = ring.close().then(() => {
    closed = true;
  });
  for (let steps = 0; !closed; steps++) {
    await mock.idle();
    if (closed) break;
    const clock = mock.clock;
    if (clock.pending() > 0 && steps < 100_000) {
      if (clock.mode === 'virtual') clock.next();
      else await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 20))]);
      continue;
    }
    const left = mock.inFlight().map((r) => `#${r.seq} ${r.op}`).join(', ');
    // Let the ring finish closing (and the process exit), then report.
    mock.forceCancelAll();
    await closing;
    throw new Error(`ring.close() cannot finish: operations in flight that cannot be cancelled and will ` +
      `never complete: ${left || '(none known to the mock)'}`);
  }
}

/** Appends the replay hint to an error's message (util.inspect, hence the test reporter, shows it). */
function annotate(e: unknown, seed: number): unknown {
  const note = `[uringkit mock seed ${seed}: replay with new MockBackend({ seed: ${seed} }) or URINGKIT_MOCK_SEED=${seed}]`;
  if (!(e instanceof Error)) return new Error(`${String(e)}\n${note}`, { cause: e });
  try {
    (e as Error & { mockSeed?: number }).mockSeed = seed;
    if (!e.message.includes(note)) e.message += `\n${note}`;
  } catch {
    // a frozen error: report it as it is
  }
  return e;
}
