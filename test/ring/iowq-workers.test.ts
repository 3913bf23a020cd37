/**
 * RingOptions.maxIoWorkers (IORING_REGISTER_IOWQ_MAX_WORKERS): a ring's
 * splices blocked on peers that never read cost at most `unbounded` kernel
 * worker threads ("iou-wrk-*"), and every one of them still settles on
 * abort (work over the cap waits in the kernel's queue, where a cancel
 * removes it). Each case runs in a child process so that the thread count is
 * the child's ring's alone. Also: validation and the documented default.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DEFAULT_MAX_IO_WORKERS, Ring } from '../../src/ring/ring.js';
import '../../src/index.js';
import { describeChild, runModule } from '../helpers/child.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

/** `target`: iou-wrk threads the child waits for (bounded wait: thread creation is asynchronous on a loaded machine). */
const CHILD = (ringOptions: string, n: number, target: number): string => `
import fs from 'node:fs';
import { setMaxListeners } from 'node:events';
import { Ring, Socket, TcpListener } from __LIB__;
const { sysOf } = await import(new URL('./ops/socket.js', __LIB__).href);

const ring = new Ring(${ringOptions});
const sys = sysOf(ring);
const listener = TcpListener.bind({ host: '127.0.0.1', port: 0, ring });
const iouWorkers = () => fs.readdirSync('/proc/self/task').filter((t) => {
  try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').startsWith('iou-wrk'); } catch { return false; }
}).length;
const before = iouWorkers();
const chunk = Buffer.alloc(256 * 1024, 0x63);
const pairs = [];
for (let i = 0; i < ${n}; i++) {
  const accepted = listener.accept();
  // The client never reads: small buffers on both sides, so a 256 KiB splice blocks.
  const client = await Socket.connect(listener.address(), { ring, recvBuffer: 4096 });
  const server = await accepted;
  server.setOptions({ sendBuffer: 4096 });
  const p = sys.pipe(1 << 20);
  await ring.write(p[1], chunk);
  pairs.push({ client, server, p });
}
const ac = new AbortController();
setMaxListeners(${n} + 10, ac.signal);
const settled = pairs.map(({ server, p }) =>
  ring.splice(p[0], null, server.fd, null, chunk.length, { signal: ac.signal }).then(
    (n) => ({ ok: true, n }), (e) => ({ ok: false, code: e.code, name: e.name })));
// Sample the worker threads while the splices are blocked: until the
// expected count shows up (at most 20 s), then a little longer to catch any
// thread over the cap.
let max = 0;
for (let i = 0, extra = 0; i < 800 && extra < 20; i++) {
  await new Promise((r) => setTimeout(r, 25));
  max = Math.max(max, iouWorkers());
  if (max - before >= ${target}) extra++;
}
const inFlight = ring.stats().inFlight;
ac.abort();
const results = await Promise.all(settled);
for (const { client, server, p } of pairs) {
  await ring.closeFd(p[0]);
  await ring.closeFd(p[1]);
  server.destroy();
  client.destroy();
}
await listener.close();
console.log(JSON.stringify({ before, max, inFlight, info: ring.info.maxIoWorkers,
  aborted: results.filter((r) => !r.ok && r.code === 'ABORT_ERR').length,
  completed: results.filter((r) => r.ok).length, whole: results.filter((r) => r.ok && r.n === chunk.length).length,
  other: results.filter((r) => !r.ok && r.code !== 'ABORT_ERR') }));
await ring.close();
`;

interface Out {
  before: number; max: number; inFlight: number; aborted: number; completed: number; whole: number; other: unknown[];
  info: { bounded: number; unbounded: number } | null;
}

async function run(ringOptions: string, n: number, target: number): Promise<Out> {
  const r = await runModule(CHILD(ringOptions, n, target), 120_000);
  assert.equal(r.code, 0, describeChild(r));
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Out;
}

describe('maxIoWorkers', () => {
  test('100 splices blocked on peers that never read, unbounded = 8: at most 8 iou-wrk threads, all settle on abort',
    { skip: skipUnlessIoUring("counts io_uring's iou-wrk threads (maxIoWorkers)") }, async () => {
      const out = await run('{ maxIoWorkers: { unbounded: 8 } }', 100, 8);
      assert.equal(out.info?.unbounded, 8, 'the cap is in effect');
      assert.ok(out.inFlight >= 100, `the splices were blocked (in flight: ${out.inFlight})`);
      assert.ok(out.max - out.before <= 8, `iou-wrk threads: ${out.max} (before: ${out.before})`);
      assert.ok(out.max >= 1, 'the splices ran on io-wq');
      assert.deepEqual(out.other, []);
      // A splice that moved some bytes before the abort interrupted it
      // resolves with that count (the kernel's outcome wins); the others
      // reject with an AbortError. None could move its whole 256 KiB.
      assert.equal(out.aborted + out.completed, 100);
      assert.equal(out.whole, 0);
    });

  test('the default caps unbounded workers at 64 (here more than 8 are used)', { skip: skipUnlessIoUring("counts io_uring's iou-wrk threads (maxIoWorkers)") }, async () => {
    const out = await run('{}', 80, 64);
    assert.equal(out.info?.unbounded, DEFAULT_MAX_IO_WORKERS.unbounded);
    assert.ok(out.max - out.before <= 64, `iou-wrk threads: ${out.max}`);
    assert.ok(out.max - out.before > 8, `without a low cap, more workers run (${out.max})`);
    assert.deepEqual(out.other, []);
    assert.equal(out.aborted + out.completed, 80);
    assert.equal(out.whole, 0);
  });

  test('validation: RangeError / TypeError with Node-style codes, before any ring is made', () => {
    for (const bad of [0, -1, 1.5, 65537, Number.NaN, Infinity]) {
      assert.throws(() => new Ring({ maxIoWorkers: { unbounded: bad } }), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
      assert.throws(() => new Ring({ maxIoWorkers: { bounded: bad } }), { code: 'ERR_OUT_OF_RANGE' });
    }
    assert.throws(() => new Ring({ maxIoWorkers: { unbounded: '8' as unknown as number } }),
      { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
    assert.throws(() => new Ring({ maxIoWorkers: 8 as unknown as object }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Ring({ maxIoWorkers: null as unknown as object }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('info.maxIoWorkers reports what is in effect: bounded keeps the kernel default unless set', { skip: skipUnlessIoUring("counts io_uring's iou-wrk threads (maxIoWorkers)") }, async () => {
    const a = new Ring({ maxIoWorkers: { bounded: 3, unbounded: 5 } });
    assert.deepEqual(a.info.maxIoWorkers, { bounded: 3, unbounded: 5 });
    await a.close();
    const b = new Ring();
    const w = b.info.maxIoWorkers;
    assert.ok(w !== null);
    assert.equal(w.unbounded, DEFAULT_MAX_IO_WORKERS.unbounded);
    assert.ok(w.bounded >= 1, 'the kernel default for bounded work');
    await b.close();
  });
});
