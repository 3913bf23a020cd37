/**
 * Observability: diagnostics_channel events for submit and complete, the
 * pino-compatible logger option, NODE_DEBUG=uringkit, and the warning for
 * dropped completions' wiring (stats are covered elsewhere).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Ring, completeChannel, submitChannel } from '../../src/index.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const lib = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'index.js');

test('submit and complete events carry op, fd, result, error and duration', async () => {
  const ring = new Ring();
  const submitted: { op: string; fd: number }[] = [];
  const completed: { op: string; result: number; error: Error | null; durationMs: number; ring: Ring }[] = [];
  const onSubmit = (m: unknown) => submitted.push(m as { op: string; fd: number });
  const onComplete = (m: unknown) => completed.push(m as (typeof completed)[number]);
  dc.subscribe('uringkit:op:submit', onSubmit);
  dc.subscribe('uringkit:op:complete', onComplete);
  try {
    await ring.nop();
    await ring.sleep(2);
    await assert.rejects(ring.closeFd(2_000_000), { code: 'EBADF' });
  } finally {
    dc.unsubscribe('uringkit:op:submit', onSubmit);
    dc.unsubscribe('uringkit:op:complete', onComplete);
  }
  assert.deepEqual(submitted.map((m) => m.op), ['nop', 'sleep', 'closeFd']);
  assert.equal(submitted[2]!.fd, 2_000_000);
  assert.deepEqual(completed.map((m) => m.op), ['nop', 'sleep', 'closeFd']);
  assert.equal(completed[0]!.result, 0);
  assert.equal(completed[0]!.error, null);
  assert.ok(completed[1]!.durationMs >= 1, `sleep(2) took ${completed[1]!.durationMs} ms`);
  assert.equal((completed[2]!.error as Error & { code: string }).code, 'EBADF');
  assert.ok(completed.every((m) => m.ring === ring));
  // Without subscribers nothing is published.
  assert.equal(submitChannel.hasSubscribers, false);
  assert.equal(completeChannel.hasSubscribers, false);
  const before = completed.length;
  await ring.nop();
  assert.equal(completed.length, before);
  await ring.close();
});

test('a logger receives the ring lifecycle at debug level; silent without one', async () => {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const logger = {
    debug: (obj: object, msg?: string) => lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg?: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
  const ring = new Ring({ logger });
  await ring.nop();
  await ring.close();
  assert.deepEqual(lines.map((l) => l.msg), ['uringkit ring created', 'uringkit ring closed']);
  assert.equal(typeof lines[0]!.obj.fd, 'number');
  assert.ok(Array.isArray(lines[0]!.obj.flags));
  assert.equal((lines[1]!.obj.stats as { completed: number }).completed, 1);
});

test('NODE_DEBUG=uringkit prints ring creation and close; the library is silent otherwise', { skip: skipUnlessIoUring("asserts the debug line of an io_uring ring's creation (its kernel fd)") }, () => {
  const script = `import(${JSON.stringify(lib)}).then(async ({ Ring }) => { const r = new Ring(); await r.nop(); await r.close(); });`;
  const on = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: 'uringkit' } });
  assert.equal(on.status, 0, on.stderr);
  assert.match(on.stderr, /URINGKIT \d+: ring created: fd \d+/);
  assert.match(on.stderr, /URINGKIT \d+: ring closed/);
  const off = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: '' } });
  assert.equal(off.status, 0, off.stderr);
  assert.equal(off.stderr, '');
  assert.equal(off.stdout, '');
});
