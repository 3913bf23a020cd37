/**
 * Exporting ring stats in the Prometheus text format.
 *
 *   node dist/examples/prometheus-stats.js [port]     then   curl http://127.0.0.1:9464/metrics
 *
 * The counters come from `ring.stats()` (no syscall); operation latencies
 * from the `uringkit:op:complete` diagnostics channel, as a histogram per
 * operation. The metrics endpoint itself is served by uringkit sockets.
 */
import dc from 'node:diagnostics_channel';

import { Ring, TcpListener, type RingStats } from '../src/index.js';

const BUCKETS_MS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

const latency = new Map<string, Histogram>();

dc.subscribe('uringkit:op:complete', (message) => {
  const { op, durationMs } = message as { op: string; durationMs: number };
  if (!Number.isFinite(durationMs)) return;
  let h = latency.get(op);
  if (h === undefined) {
    h = { counts: BUCKETS_MS.map(() => 0), sum: 0, count: 0 };
    latency.set(op, h);
  }
  for (let i = 0; i < BUCKETS_MS.length; i++) if (durationMs <= BUCKETS_MS[i]!) h.counts[i]!++;
  h.sum += durationMs / 1000;
  h.count++;
});

const HELP: Record<keyof RingStats, [string, 'counter' | 'gauge']> = {
  submitted: ['Operations issued', 'counter'],
  completed: ['Operations that succeeded', 'counter'],
  failed: ['Operations that failed with a system error', 'counter'],
  timedOut: ['Operations whose deadline passed', 'counter'],
  cancelled: ['Operations cancelled (abort, cancelAll, close)', 'counter'],
  inFlight: ['Operations in flight', 'gauge'],
  maxInFlight: ['Most operations in flight at once', 'gauge'],
  enters: ['io_uring_enter calls', 'counter'],
  reapBatches: ['Completion batches reaped', 'counter'],
  backlogged: ['Operations that waited for SQ space', 'counter'],
  cqOverflows: ['Times completions were parked by the kernel (CQ full)', 'counter'],
  sqes: ['SQEs submitted', 'counter'],
  cqesDropped: ['Completions the kernel dropped', 'counter'],
  staleCqes: ['Completions for no live operation (should stay 0)', 'counter'],
};

/** The Prometheus text exposition of one ring's stats and the latency histograms. */
export function prometheusText(ring: Ring, labels = `thread="main"`): string {
  const s = ring.stats();
  const lines: string[] = [];
  for (const key of Object.keys(HELP) as (keyof RingStats)[]) {
    const name = `uringkit_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}${HELP[key][1] === 'counter' ? '_total' : ''}`;
    lines.push(`# HELP ${name} ${HELP[key][0]}`, `# TYPE ${name} ${HELP[key][1]}`, `${name}{${labels}} ${s[key]}`);
  }
  lines.push('# HELP uringkit_op_duration_seconds Operation latency, issue to settlement',
    '# TYPE uringkit_op_duration_seconds histogram');
  for (const [op, h] of latency) {
    BUCKETS_MS.forEach((le, i) => {
      lines.push(`uringkit_op_duration_seconds_bucket{${labels},op="${op}",le="${le / 1000}"} ${h.counts[i]}`);
    });
    lines.push(`uringkit_op_duration_seconds_bucket{${labels},op="${op}",le="+Inf"} ${h.count}`,
      `uringkit_op_duration_seconds_sum{${labels},op="${op}"} ${h.sum}`,
      `uringkit_op_duration_seconds_count{${labels},op="${op}"} ${h.count}`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 9464);
  const ring = Ring.current();
  const listener = TcpListener.bind({ host: '127.0.0.1', port });
  console.log(`metrics on http://${listener.address()}/metrics`);
  // Some activity to look at.
  setInterval(() => void ring.nop().then(() => ring.sleep(1)), 100).unref();
  process.once('SIGINT', () => void listener.close());
  for await (const socket of listener) {
    (async () => {
      for await (const chunk of socket) {
        if (!chunk.includes('\r\n\r\n')) continue;
        const body = prometheusText(ring);
        await socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        break;
      }
      await socket.close();
    })().catch(() => {});
  }
}
