/**
 * worker_threads: one ring per thread, operations work in workers, and
 * terminating a worker with 1,000 operations in flight neither crashes nor
 * leaks (the worker's ring and eventfd are closed).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { Ring } from '../../src/index.js';
import { eventFdCount, fdCount, fdKinds, uringFdCount } from '../helpers/fds.js';
import { makeFifo } from '../helpers/fifo.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { delay, waitUntil } from '../helpers/loop.js';
import type { InfoMessage, WorkerInput } from './fixtures/ring-worker.js';

const FIXTURE = new URL('./fixtures/ring-worker.js', import.meta.url);

interface Started {
  worker: Worker;
  errors: unknown[];
  messages: Record<string, unknown>[];
  /** Resolves with the first message of the given type. */
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number>;
}

function start(input: WorkerInput): Started {
  const worker = new Worker(FIXTURE, { workerData: input });
  const errors: unknown[] = [];
  const messages: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  worker.on('error', (e) => errors.push(e));
  worker.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    if (m.type === 'error') errors.push(m.error);
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i]!.type === m.type) {
        waiters.splice(i, 1)[0]!.resolve(m);
        break;
      }
    }
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  return {
    worker, errors, messages, exited,
    next(type, timeoutMs = 30_000) {
      const seen = messages.find((m) => m.type === type);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no '${type}' message from the worker within ${timeoutMs} ms; ` +
          `errors: ${errors.map(String).join('; ')}`)), timeoutMs);
        waiters.push({ type, resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        } });
        void exited.then((code) => {
          clearTimeout(t);
          reject(new Error(`worker exited (code ${code}) before '${type}'; errors: ${errors.map(String).join('; ')}`));
        });
      });
    },
  };
}

/** Waits for a worker to exit on its own, with a generous bound. */
async function exitsWithin(w: Started, ms: number): Promise<number | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([w.exited, new Promise<'hung'>((res) => (timer = setTimeout(() => res('hung'), ms)))]);
  clearTimeout(timer);
  if (r === 'hung') await w.worker.terminate();
  return r;
}

describe('worker_threads', { skip: skipUnlessIoUring('polls FIFOs and counts io_uring fds per thread') }, () => {
  test('each thread gets its own ring: distinct fds, separate stats', { timeout: 60_000 }, async () => {
    const main = Ring.current();
    try {
      await main.nop();
      const mainBefore = main.stats().submitted;
      const workers = [start({ mode: 'info' }), start({ mode: 'info' }), start({ mode: 'info' })];
      const infos = (await Promise.all(workers.map((w) => w.next('info')))) as unknown as InfoMessage[];
      // All rings are alive at this point (workers wait for 'exit').
      const fds = [main.info.fd, ...infos.map((i) => i.fd)];
      assert.equal(new Set(fds).size, fds.length, `ring fds ${fds.join(', ')} must be distinct`);
      for (const info of infos) {
        assert.equal(info.sameRing, true, 'Ring.current() is stable within a worker');
        assert.equal(info.submitted, 11, 'a worker ring counts only that worker\'s operations');
        assert.equal(info.completed, 11);
        assert.equal(info.inFlight, 0);
      }
      assert.equal(main.stats().submitted, mainBefore, 'worker operations do not touch the main ring');
      for (const w of workers) w.worker.postMessage('exit');
      // Nothing in flight in the workers: each ends on its own.
      for (const w of workers) {
        assert.equal(await exitsWithin(w, 20_000), 0);
        assert.deepEqual(w.errors, []);
      }
    } finally {
      await main.close();
    }
  });

  test('operations work in a worker (nop, sleep, timeout, abort, poll, closeFd, cancelAll)', { timeout: 60_000 },
    async () => {
      const never = makeFifo();
      const ready = makeFifo();
      try {
        const w = start({ mode: 'ops', fifoFd: never.fd, readyFd: ready.fd });
        await w.next('ready');
        ready.write();
        const { results } = (await w.next('results')) as { results: Record<string, unknown> };
        assert.deepEqual(w.errors, []);
        const stats = results.stats as { inFlight: number; staleCqes: number };
        delete results.stats;
        assert.deepEqual(results, {
          nop: 'ok', nopCallback: 'ok', sleep: 'ok', timeout: 'ETIMEDOUT', abort: 'AbortError', poll: 1,
          closeFd: 'EBADF', cancelAll: 1, cancelled: 'AbortError',
        });
        assert.equal(stats.inFlight, 0);
        assert.equal(stats.staleCqes, 0);
        assert.equal(await exitsWithin(w, 20_000), 0, 'the worker exits by itself once nothing is in flight');
      } finally {
        never.close();
        ready.close();
      }
    });

  test('terminate() with 1,000 operations in flight, 20 times: no crash, no fd leak', { timeout: 150_000 },
    async () => {
      const fifo = makeFifo();
      try {
        // Warm up lazily created main-thread resources (stdio streams, worker
        // machinery) without a ring, then take the baseline.
        void process.stdout.fd;
        void process.stderr.fd;
        const warm = start({ mode: 'idle' });
        await warm.next('ready');
        await warm.worker.terminate();
        await delay(50);
        const baseFds = fdCount();
        const baseUring = uringFdCount();
        const baseEventFd = eventFdCount();
        const baseKinds = fdKinds();

        const ROUNDS = 20;
        for (let round = 0; round < ROUNDS; round++) {
          // Two workers at a time, terminated at different points.
          const ws = [start({ mode: 'flood', fifoFd: fifo.fd }), start({ mode: 'flood', fifoFd: fifo.fd })];
          if (round % 4 === 3) {
            // Terminated while the workers are creating their rings and issuing.
            await Promise.all(ws.map((w) => w.next('loaded')));
          } else {
            const msgs = await Promise.all(ws.map((w) => w.next('ready')));
            for (const m of msgs) assert.equal(m.inFlight, 1000);
            if (round % 4 === 1) await delay(5);
          }
          if (round % 2 === 0) {
            const codes = await Promise.all(ws.map((w) => w.worker.terminate()));
            for (const c of codes) assert.equal(c, 1);
          } else {
            for (const w of ws) void w.worker.terminate();
            await Promise.all(ws.map((w) => w.exited));
          }
          for (const w of ws) assert.deepEqual(w.errors, [], `round ${round}`);
        }

        // The main thread is healthy: its own ring works.
        const ring = new Ring();
        try {
          await ring.nop();
          await ring.sleep(1, { timeout: 10_000 });
          assert.equal(ring.stats().inFlight, 0);
        } finally {
          await ring.close();
        }

        // Every worker's ring and eventfd are closed (allow the last uv handles to close).
        const settled = await waitUntil(() => fdCount() <= baseFds && uringFdCount() <= baseUring &&
          eventFdCount() <= baseEventFd, 20_000, 50);
        assert.ok(settled, `fds: ${fdCount()} (baseline ${baseFds}), io_uring: ${uringFdCount()} ` +
          `(baseline ${baseUring}), eventfd: ${eventFdCount()} (baseline ${baseEventFd}); ` +
          `now ${JSON.stringify([...fdKinds()])}, baseline ${JSON.stringify([...baseKinds])}`);
      } finally {
        fifo.close();
      }
    });

  test('a worker that closed Ring.current() gets a fresh ring and exits normally', { timeout: 60_000 }, async () => {
    const w = new Worker(`
      import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)}).then(async ({ Ring }) => {
        const ring = Ring.current();
        ring.sleep(60000, () => {});
        await ring.close();
        const again = Ring.current();
        if (again === ring) throw new Error('Ring.current() returned the closed ring');
        await again.nop();
      });
    `, { eval: true });
    const errors: unknown[] = [];
    w.on('error', (e) => errors.push(e));
    const [code] = (await once(w, 'exit')) as [number];
    assert.deepEqual(errors, []);
    assert.equal(code, 0);
  });
});
