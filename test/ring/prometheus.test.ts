/** The Prometheus exporter example renders every stat and the latency histogram. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { prometheusText } from '../../examples/prometheus-stats.js';
import { Ring } from '../../src/index.js';

test('prometheusText: counters, gauges and a per-operation latency histogram', async () => {
  const ring = new Ring();
  await ring.nop();
  await ring.sleep(1);
  const text = prometheusText(ring, 'ring="test"');
  assert.match(text, /^# TYPE uringkit_submitted_total counter$/m);
  assert.match(text, /^uringkit_submitted_total\{ring="test"\} 2$/m);
  assert.match(text, /^uringkit_in_flight\{ring="test"\} 0$/m);
  assert.match(text, /^uringkit_cq_overflows_total\{ring="test"\} 0$/m);
  assert.match(text, /^uringkit_op_duration_seconds_count\{ring="test",op="nop"\} [1-9]\d*$/m);
  assert.match(text, /^uringkit_op_duration_seconds_bucket\{ring="test",op="sleep",le="\+Inf"\} [1-9]\d*$/m);
  await ring.close();
});
