/**
 * IORING_REGISTER_RESTRICTIONS (`new Ring({ allow })`) and credential
 * changes (a ring created before setuid refuses to submit).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Ring } from '../../src/index.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

const lib = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'index.js');

test('allow: the kernel refuses every operation not listed (EACCES); listed ones, cancels and deadlines work', { skip: skipUnlessIoUring("needs io_uring's kernel restrictions (IORING_REGISTER_RESTRICTIONS)") }, async () => {
  const ring = new Ring({ allow: ['nop', 'sleep'] });
  try {
    await ring.nop();
    await ring.sleep(1, { timeout: 1000 });
    await assert.rejects(ring.sleep(10_000, { timeout: 5 }), { code: 'ETIMEDOUT' });
    const ac = new AbortController();
    const p = ring.sleep(10_000, { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    await assert.rejects(ring.open('/etc/hostname'), { code: 'EACCES', syscall: 'open' });
    await assert.rejects(ring.closeFd(0), { code: 'EACCES', syscall: 'close' });
    assert.equal(ring.stats().inFlight, 0);
  } finally {
    await ring.close();
  }
});

test('allow: unknown names and wrong types are refused before any ring is made', () => {
  assert.throws(() => new Ring({ allow: ['nop', 'bogus'] }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => new Ring({ allow: 'nop' as unknown as string[] }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
});

test('after setuid a ring created earlier refuses to submit; Ring.current() gives a new ring with the new identity',
  { skip: process.getuid?.() !== 0 ? 'needs root to change credentials' : false }, () => {
    const script = `
      import(${JSON.stringify(lib)}).then(async ({ Ring }) => {
        const old = Ring.current();
        const pending = old.sleep(60_000).then(() => 'resolved', (e) => e.name);
        await old.nop();
        process.setgid(65534);
        process.setuid(65534);
        const refused = await old.nop().then(() => 'ran', (e) => e.code);
        const fresh = Ring.current();
        const freshOk = await fresh.nop().then(() => 'ok', (e) => e.code);
        const asNobody = await fresh.open('/root').then(() => 'opened', (e) => e.code);
        console.log(JSON.stringify({ refused, pending: await pending, different: fresh !== old, freshOk, asNobody }));
        await fresh.close();
      });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), {
      refused: 'ERR_RING_STALE_CREDENTIALS', pending: 'AbortError', different: true, freshOk: 'ok', asNobody: 'EACCES',
    });
  });
