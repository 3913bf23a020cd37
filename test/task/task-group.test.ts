import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { AbortError } from '../../src/errors.js';
import { TaskGroup } from '../../src/task/task-group.js';

// No assertion here depends on how fast the machine is: "slow" tasks wait on
// promises the test releases, timeouts only ever race against such a task.

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects with an AbortError (cause = reason) once `signal` aborts: what an abort-aware operation does. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    const fail = (): void => reject(new AbortError(undefined, { cause: signal.reason }));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/** Resolves once `signal` aborts (does not reject). */
function abortSeen(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

async function aggregate(p: Promise<unknown>): Promise<unknown[]> {
  const err = await rejection(p);
  assert.ok(err instanceof AggregateError, `expected AggregateError, got ${String(err)}`);
  return err.errors;
}

const ticks = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

describe('TaskGroup basics', () => {
  test('spawn runs fn synchronously with the group signal and returns its promise', async () => {
    const group = new TaskGroup();
    let seen: AbortSignal | undefined;
    const p = group.spawn(async (signal) => {
      seen = signal;
      await null;
      return 42;
    });
    assert.equal(seen, group.signal);
    assert.equal(group.size, 1);
    assert.equal(group.spawned, 1);
    const q = group.spawn(() => 'sync value');
    assert.equal(await p, 42);
    assert.equal(await q, 'sync value');
    assert.equal(await group.join(), undefined);
    assert.equal(group.size, 0);
    assert.equal(group.settled, 2);
    assert.equal(group.failed, 0);
    assert.equal(group.closed, true);
    assert.equal(group.cancelled, false);
  });

  test('spawnAll returns the promises in order', async () => {
    const group = new TaskGroup();
    const [a, b, c] = group.spawnAll(async () => 1, () => 'two', async () => [3]);
    assert.deepEqual(await Promise.all([a, b, c]), [1, 'two', [3]]);
    await group.join();
  });

  test('join on an empty group resolves and closes it', async () => {
    const group = new TaskGroup();
    assert.equal(await group.join({ timeout: 0 }), true);
    assert.equal(group.closed, true);
    assert.equal(await group.join(), undefined);
  });

  test('tasks spawned while joining are waited for', async () => {
    const group = new TaskGroup();
    const gate = deferred();
    const order: string[] = [];
    group.spawn(async () => {
      await gate.promise;
      group.spawn(async () => {
        await ticks(2);
        order.push('grandchild');
      });
      order.push('first');
    });
    const joined = group.join().then(() => order.push('joined'));
    await ticks();
    gate.resolve();
    await joined;
    assert.deepEqual(order, ['first', 'grandchild', 'joined']);
  });
});

describe('failure and cancellation', () => {
  test('first failure aborts the signal; siblings observe it; their AbortErrors are not failures', async () => {
    const group = new TaskGroup();
    const boom = new Error('boom');
    const observed: boolean[] = [];
    const siblings = [1, 2, 3].map(() =>
      group.spawn(async (signal) => {
        await abortSeen(signal);
        observed.push(signal.aborted);
        return untilAborted(signal);
      }));
    group.spawn(async () => {
      await null;
      throw boom;
    });
    const errors = await aggregate(group.join());
    assert.deepEqual(errors, [boom]);
    assert.deepEqual(observed, [true, true, true]);
    assert.ok(group.signal.reason instanceof AbortError);
    assert.equal((group.signal.reason as AbortError).cause, boom);
    assert.equal(group.failed, 1);
    assert.equal(group.cancelledTasks, 3);
    for (const s of siblings) assert.equal(((await rejection(s)) as Error).name, 'AbortError');
  });

  test('AggregateError holds every failure, in order, including ones after the abort', async () => {
    const group = new TaskGroup();
    const e1 = new Error('first');
    const e2 = new TypeError('second, while cleaning up');
    const e3 = new RangeError('third');
    group.spawn(async (signal) => {
      await abortSeen(signal);
      throw e2; // not an abort error: a real failure even though the group is cancelled
    });
    group.spawn(async (signal) => {
      await abortSeen(signal);
      await ticks(1);
      throw e3;
    });
    group.spawn(async () => {
      await null;
      throw e1;
    });
    group.spawn((signal) => untilAborted(signal)); // cancelled, not counted
    const errors = await aggregate(group.join());
    assert.deepEqual(errors, [e1, e2, e3]);
    assert.equal(group.failed, 3);
    assert.equal(group.cancelledTasks, 1);
  });

  test('a synchronous throw in fn is a failure; spawn does not throw it', async () => {
    const group = new TaskGroup();
    const err = new Error('sync');
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      p = group.spawn(() => {
        throw err;
      });
    });
    const sibling = group.spawn((signal) => untilAborted(signal));
    assert.equal(await rejection(p!), err);
    assert.deepEqual(await aggregate(group.join()), [err]);
    assert.equal(((await rejection(sibling)) as Error).name, 'AbortError');
  });

  test('an AbortError while the group is NOT cancelled is a failure', async () => {
    const group = new TaskGroup();
    const own = new AbortController();
    own.abort();
    group.spawn(() => untilAborted(own.signal));
    const errors = await aggregate(group.join());
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).name, 'AbortError');
  });

  test('a rejection with the signal reason itself is a cancellation (any value)', async () => {
    const group = new TaskGroup();
    group.spawn(async (signal) => {
      await abortSeen(signal);
      signal.throwIfAborted();
    });
    group.cancel('shutdown');
    await group.join();
    assert.equal(group.signal.reason, 'shutdown');
    assert.equal(group.failed, 0);
    assert.equal(group.cancelledTasks, 1);
  });

  test('ignored task rejections never become unhandled rejections', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const group = new TaskGroup();
      group.spawn(() => {
        throw new Error('sync, ignored');
      });
      group.spawn(async () => {
        throw new Error('async, ignored');
      });
      group.spawn((signal) => untilAborted(signal));
      assert.equal((await aggregate(group.join())).length, 2);
      await ticks(5);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('cancel() aborts with an AbortError (or the given reason) and join resolves', async () => {
    const group = new TaskGroup();
    const p = group.spawn((signal) => untilAborted(signal));
    group.cancel();
    assert.equal(group.cancelled, true);
    assert.ok(group.signal.reason instanceof AbortError);
    assert.equal(group.signal.reason.code, 'ABORT_ERR');
    await group.join();
    assert.equal(((await rejection(p)) as Error).name, 'AbortError');
    group.cancel(new Error('ignored: already cancelled'));
    assert.ok(group.signal.reason instanceof AbortError);
  });

  test('spawning into a cancelled group runs fn with the aborted signal', async () => {
    const group = new TaskGroup();
    group.cancel();
    let sawAborted = false;
    const p = group.spawn((signal) => {
      sawAborted = signal.aborted;
      return untilAborted(signal);
    });
    assert.equal(sawAborted, true);
    await group.join();
    assert.equal(((await rejection(p)) as Error).name, 'AbortError');
    assert.equal(group.cancelledTasks, 1);
  });

  test('concurrent joins all reject with the same AggregateError', async () => {
    const group = new TaskGroup();
    const err = new Error('x');
    group.spawn(async () => {
      await null;
      throw err;
    });
    const [a, b] = await Promise.all([rejection(group.join()), rejection(group.join({ timeout: 100_000 }))]);
    assert.ok(a instanceof AggregateError);
    assert.equal(a, b);
    assert.deepEqual(a.errors, [err]);
  });
});

describe('join timeout', () => {
  test('resolves false when the deadline passes; tasks keep running; a later join completes', async () => {
    const group = new TaskGroup();
    const gate = deferred<string>();
    const p = group.spawn(() => gate.promise);
    assert.equal(await group.join({ timeout: 1 }), false);
    assert.equal(group.cancelled, false);
    assert.equal(group.closed, false);
    assert.equal(group.size, 1);
    group.spawn(async () => 'still open');
    gate.resolve('done');
    assert.equal(await group.join({ timeout: 100_000 }), true);
    assert.equal(await p, 'done');
    assert.equal(group.closed, true);
  });

  test('resolves true when the tasks finish first', async () => {
    const group = new TaskGroup();
    group.spawn(async () => {
      await ticks(2);
    });
    assert.equal(await group.join({ timeout: 100_000 }), true);
  });

  test('cancel: true aborts at the deadline, waits for the tasks to settle, then resolves false', async () => {
    const group = new TaskGroup();
    let cleanedUp = false;
    group.spawn(async (signal) => {
      try {
        await untilAborted(signal);
      } finally {
        await ticks(2);
        cleanedUp = true;
      }
    });
    assert.equal(await group.join({ timeout: 1, cancel: true }), false);
    assert.equal(cleanedUp, true);
    assert.equal(group.size, 0);
    assert.equal(group.closed, true);
    assert.ok(group.signal.reason instanceof AbortError);
    assert.match((group.signal.reason as Error).message, /timed out/);
    assert.equal(group.failed, 0);
  });

  test('cancel: true still rejects if a task fails while being cancelled', async () => {
    const group = new TaskGroup();
    const err = new Error('cleanup failed');
    group.spawn(async (signal) => {
      await abortSeen(signal);
      throw err;
    });
    assert.deepEqual(await aggregate(group.join({ timeout: 1, cancel: true })), [err]);
  });

  test('validation', () => {
    const group = new TaskGroup();
    for (const timeout of [-1, NaN, Infinity, 2 ** 31]) {
      assert.throws(() => group.join({ timeout }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    }
    assert.throws(() => group.join({ timeout: '5' as unknown as number }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => group.join({ cancel: 1 as unknown as boolean }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => group.join(null as unknown as object), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(group.closed, false);
  });
});

describe('failures are never lost', () => {
  test('a failure after a timed-out join is delivered by the next join', async () => {
    const group = new TaskGroup();
    const gate = deferred();
    const late = new Error('late');
    group.spawn(async () => {
      await gate.promise;
      throw late;
    });
    assert.equal(await group.join({ timeout: 1 }), false);
    gate.resolve();
    await ticks();
    assert.equal(group.size, 0);
    assert.equal(group.closed, false); // nobody was joining when it finished
    assert.deepEqual(await aggregate(group.join()), [late]);
    assert.equal(group.closed, true);
    assert.equal(await group.join({ timeout: 0 }), true); // delivered exactly once
  });

  test('failures before any join are kept for it', async () => {
    const group = new TaskGroup();
    const err = new Error('early');
    group.spawn(() => {
      throw err;
    });
    await ticks();
    assert.equal(group.cancelled, true);
    assert.deepEqual(await aggregate(group.join()), [err]);
  });

  test('failures of tasks spawned during join are reported', async () => {
    const group = new TaskGroup();
    const inner = new Error('inner');
    group.spawn(async () => {
      await ticks(1);
      group.spawn(async () => {
        await ticks(1);
        throw inner;
      });
    });
    assert.deepEqual(await aggregate(group.join()), [inner]);
  });

  test('a group garbage-collected with undelivered failures raises an unhandled rejection', () => {
    const moduleUrl = new URL('../../src/task/task-group.js', import.meta.url).href;
    const script = `
      import { TaskGroup } from ${JSON.stringify(moduleUrl)};
      const seen = [];
      process.on('unhandledRejection', (reason) => seen.push(reason));
      async function abandon() {
        const group = new TaskGroup();
        let release;
        group.spawn(() => new Promise((_, reject) => { release = reject; }));
        if (await group.join({ timeout: 1 }) !== false) throw new Error('expected a timed-out join');
        release(new Error('after the timed-out join'));
      }
      await abandon();
      for (let i = 0; i < 200 && seen.length === 0; i++) {
        globalThis.gc();
        await new Promise((r) => setImmediate(r));
      }
      const e = seen[0];
      console.log(JSON.stringify({
        count: seen.length,
        aggregate: e instanceof AggregateError,
        messages: e?.errors?.map((x) => x.message),
      }));
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { count: 1, aggregate: true, messages: ['after the timed-out join'] });
  });
});

describe('closing', () => {
  test('spawn after join throws ERR_TASKGROUP_CLOSED', async () => {
    const group = new TaskGroup();
    group.spawn(async () => {});
    await group.join();
    assert.throws(() => group.spawn(async () => {}), { code: 'ERR_TASKGROUP_CLOSED' });
    assert.throws(() => group.spawnAll(async () => {}), { code: 'ERR_TASKGROUP_CLOSED' });
    assert.equal(group.spawned, 1);
  });

  test('spawn after a failed join throws too', async () => {
    const group = new TaskGroup();
    group.spawn(() => {
      throw new Error('x');
    });
    await aggregate(group.join());
    assert.throws(() => group.spawn(() => 1), { code: 'ERR_TASKGROUP_CLOSED' });
  });

  test('argument validation', () => {
    const group = new TaskGroup();
    assert.throws(() => group.spawn(42 as unknown as () => void), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => group.spawnAll(async () => {}, 'x' as unknown as () => void), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
    });
    assert.equal(group.spawned, 0); // nothing started
    assert.throws(() => new TaskGroup({ signal: {} as AbortSignal }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new TaskGroup(5 as unknown as object), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe('parent signal and nesting', () => {
  test('parent abort cancels the group with the parent reason', async () => {
    const parent = new AbortController();
    const group = new TaskGroup({ signal: parent.signal });
    const p = group.spawn((signal) => untilAborted(signal));
    const reason = new Error('parent says stop');
    parent.abort(reason);
    assert.equal(group.signal.reason, reason);
    await group.join();
    assert.equal(((await rejection(p)) as Error).name, 'AbortError');
    assert.equal(group.failed, 0);
  });

  test('an already-aborted parent gives an already-cancelled group', () => {
    const group = new TaskGroup({ signal: AbortSignal.abort('gone') });
    assert.equal(group.cancelled, true);
    assert.equal(group.signal.reason, 'gone');
  });

  test('closing the group stops listening to the parent', async () => {
    const parent = new AbortController();
    const group = new TaskGroup({ signal: parent.signal });
    assert.equal(getEventListeners(parent.signal, 'abort').length, 1);
    group.spawn(async () => {});
    await group.join();
    assert.equal(getEventListeners(parent.signal, 'abort').length, 0);
  });

  test('a child group is cancelled when its parent group is', async () => {
    const parent = new TaskGroup();
    let childReasonCause: unknown;
    const boom = new Error('parent task failed');
    parent.spawn(async (signal) => {
      const child = new TaskGroup({ signal });
      child.spawn((s) => untilAborted(s));
      child.spawn((s) => untilAborted(s));
      await child.join(); // resolves: the child tasks were only cancelled
      childReasonCause = (child.signal.reason as AbortError).cause;
      signal.throwIfAborted(); // the parent's reason: a cancellation, not a failure
    });
    parent.spawn(async () => {
      await ticks(1);
      throw boom;
    });
    assert.deepEqual(await aggregate(parent.join()), [boom]);
    assert.equal(childReasonCause, boom);
    assert.equal(parent.cancelledTasks, 1);
  });

  test("a child's failure propagates through the parent task that joins it", async () => {
    const parent = new TaskGroup();
    const leaf = new Error('leaf');
    const sibling = parent.spawn((signal) => untilAborted(signal));
    parent.spawn(async (signal) => {
      const child = new TaskGroup({ signal });
      child.spawn(async () => {
        await null;
        throw leaf;
      });
      await child.join();
    });
    const errors = await aggregate(parent.join());
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof AggregateError);
    assert.deepEqual(errors[0].errors, [leaf]);
    assert.equal(((await rejection(sibling)) as Error).name, 'AbortError');
  });
});

describe('disposal', () => {
  test('await using joins at scope exit', async () => {
    const gate = deferred();
    let finished = false;
    let group!: TaskGroup;
    const scope = (async () => {
      await using g = new TaskGroup();
      group = g;
      g.spawn(async () => {
        await gate.promise;
        finished = true;
      });
    })();
    await ticks();
    assert.equal(finished, false);
    gate.resolve();
    await scope;
    assert.equal(finished, true);
    assert.equal(group.closed, true);
  });

  test('await using rejects with the AggregateError of failures', async () => {
    const err = new Error('in task');
    const errors = await aggregate((async () => {
      await using g = new TaskGroup();
      g.spawn(async () => {
        throw err;
      });
    })());
    assert.deepEqual(errors, [err]);
  });

  test('a scope exception does not cancel the group by itself; with a task failure both surface', async () => {
    const bodyErr = new Error('body');
    const taskErr = new Error('task');
    const gate = deferred();
    let taskRan = false;
    const outcome = rejection((async () => {
      await using g = new TaskGroup();
      g.spawn(async () => {
        await gate.promise;
        taskRan = true;
        throw taskErr;
      });
      throw bodyErr;
    })());
    await ticks();
    assert.equal(taskRan, false); // disposal is still waiting for the task
    gate.resolve();
    const err = (await outcome) as { name: string; error: unknown; suppressed: unknown };
    assert.equal(taskRan, true);
    assert.equal(err.name, 'SuppressedError');
    assert.ok(err.error instanceof AggregateError);
    assert.deepEqual(err.error.errors, [taskErr]);
    assert.equal(err.suppressed, bodyErr);
  });

  test('recommended pattern: cancel in catch so a scope exception cancels the tasks', async () => {
    const bodyErr = new Error('body');
    const p = rejection((async () => {
      await using g = new TaskGroup();
      try {
        g.spawn((signal) => untilAborted(signal));
        throw bodyErr;
      } catch (e) {
        g.cancel(e);
        throw e;
      }
    })());
    assert.equal(await p, bodyErr);
  });

  test('explicit Symbol.asyncDispose is join()', async () => {
    const group = new TaskGroup();
    const err = new Error('e');
    group.spawn(() => Promise.reject(err));
    assert.deepEqual(await aggregate(group[Symbol.asyncDispose]()), [err]);
    assert.equal(group.closed, true);
    await group[Symbol.asyncDispose](); // already joined: no-op
  });
});

describe('fan-out', () => {
  test('10,000 tasks complete and are all counted', async () => {
    const group = new TaskGroup();
    const N = 10_000;
    const results: Promise<number>[] = [];
    for (let i = 0; i < N; i++) {
      results.push(group.spawn(async () => {
        if (i % 7 === 0) await new Promise<void>((r) => setImmediate(r));
        else await null;
        return i;
      }));
    }
    assert.equal(group.size, N);
    await group.join();
    const values = await Promise.all(results);
    assert.equal(values.reduce((a, b) => a + b, 0), (N * (N - 1)) / 2);
    assert.equal(group.settled, N);
    assert.equal(group.size, 0);
  });

  test('one failure among 10,000 waiting tasks cancels all the others', async () => {
    const group = new TaskGroup();
    const N = 10_000;
    for (let i = 0; i < N - 1; i++) group.spawn((signal) => untilAborted(signal));
    const err = new Error('one of many');
    group.spawn(async () => {
      await ticks(1);
      throw err;
    });
    assert.deepEqual(await aggregate(group.join()), [err]);
    assert.equal(group.cancelledTasks, N - 1);
    assert.equal(group.failed, 1);
  });
});
