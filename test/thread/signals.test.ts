/** waitSignal: resolves with the signal's name, cleans up, aborts, validates, keeps the loop alive. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { waitSignal } from '../../src/thread/index.js';
import { describeChild, runModule } from '../helpers/child.js';
import { THREAD_LIB_URL } from './helpers.js';

// Node 24's test runner starts each file's process with --report-on-signal
// (SIGUSR2): every SIGUSR2 below would write a diagnostic report file.
process.report.reportOnSignal = false;

describe('waitSignal', () => {
  test('resolves with the name of the signal received; its listeners are removed', async () => {
    const before = { usr2: process.listenerCount('SIGUSR2'), hup: process.listenerCount('SIGHUP') };
    const p = waitSignal(['SIGHUP', 'SIGUSR2']);
    assert.equal(process.listenerCount('SIGUSR2'), before.usr2 + 1);
    assert.equal(process.listenerCount('SIGHUP'), before.hup + 1);
    process.kill(process.pid, 'SIGUSR2');
    assert.equal(await p, 'SIGUSR2');
    assert.equal(process.listenerCount('SIGUSR2'), before.usr2);
    assert.equal(process.listenerCount('SIGHUP'), before.hup);
    // A single name works too, and a second wait gets the next signal.
    const q = waitSignal('SIGUSR2');
    process.kill(process.pid, 'SIGUSR2');
    assert.equal(await q, 'SIGUSR2');
  });

  test('abort rejects with an AbortError and removes the listeners', async () => {
    const before = process.listenerCount('SIGUSR2');
    const ac = new AbortController();
    const p = waitSignal(['SIGUSR2'], { signal: ac.signal });
    const reason = new Error('shutting down anyway');
    ac.abort(reason);
    await assert.rejects(p, (e: Error) => e.name === 'AbortError' && e.cause === reason);
    assert.equal(process.listenerCount('SIGUSR2'), before);
    await assert.rejects(waitSignal('SIGUSR2', { signal: ac.signal }), { name: 'AbortError' });
    assert.equal(process.listenerCount('SIGUSR2'), before);
  });

  test('validates the names', () => {
    assert.throws(() => waitSignal(['SIGNOPE' as NodeJS.Signals]), { code: 'ERR_UNKNOWN_SIGNAL' });
    assert.throws(() => waitSignal('sigint' as NodeJS.Signals), { code: 'ERR_UNKNOWN_SIGNAL' });
    assert.throws(() => waitSignal([]), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => waitSignal(['SIGKILL']), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => waitSignal(42 as unknown as NodeJS.Signals), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => waitSignal('SIGUSR2', { ref: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('keeps an otherwise idle process alive until the signal arrives (and not with ref: false)',
    { timeout: 60_000 }, async () => {
      const code = (ref: boolean): string => `
        import { waitSignal } from ${JSON.stringify(THREAD_LIB_URL)};
        process.on('exit', (c) => console.log('exit', c));
        const p = waitSignal(['SIGUSR2', 'SIGTERM'], { ref: ${ref} });
        // Signal ourselves from a later turn: by then nothing but the wait is pending.
        if (${ref}) setTimeout(() => process.kill(process.pid, 'SIGUSR2'), 50);
        console.log('got', await p);
      `;
      const r = await runModule(code(true), 30_000);
      assert.equal(r.killed, false, describeChild(r));
      assert.equal(r.code, 0, describeChild(r));
      assert.match(r.stdout, /got SIGUSR2\nexit 0/, describeChild(r));
      // Without the hold, the top-level await never settles: Node exits with 13.
      const u = await runModule(code(false), 30_000);
      assert.equal(u.code, 13, describeChild(u));
      assert.doesNotMatch(u.stdout, /got/, describeChild(u));
    });
});
