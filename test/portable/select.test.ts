/**
 * Backend selection: UK_BACKEND, RingOptions.backend, the addon failing to
 * load, io_uring_setup failing (an injected addon answering EPERM), and the
 * one NODE_DEBUG=uringkit line that says which backend and why. Each case
 * runs in a child process (the decision is made once per thread).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Ring } from '../../src/index.js';
import { portableBackend } from '../../src/backend/portable/index.js';
import { describeChild } from '../helpers/child.js';
import { runWithEnv } from './util.js';

const PRINT_RING = `
  import { Ring } from __LIB__;
  const r = new Ring({ entries: 4 });
  await r.nop();
  console.log(JSON.stringify({ backend: r.info.backend }));
  await r.close();
`;

function parse(stdout: string): { backend?: string; code?: string; errno?: number } {
  const line = stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(line) as { backend?: string };
}

let uringWorks: boolean;
try {
  void new Ring({ entries: 2, backend: 'io_uring' }).close();
  uringWorks = true;
} catch {
  uringWorks = false;
}

describe('backend selection', () => {
  test('UK_BACKEND=node forces the portable backend, and says so', async () => {
    const r = await runWithEnv(PRINT_RING, { UK_BACKEND: 'node', NODE_DEBUG: 'uringkit' });
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(parse(r.stdout).backend, 'portable');
    assert.match(r.stderr, /URINGKIT \d+: backend: portable \(UK_BACKEND=node\)/);
  });

  test('automatic: io_uring where it works (one debug line)', { skip: uringWorks ? false : 'io_uring is unavailable here' }, async () => {
    const r = await runWithEnv(PRINT_RING, { UK_BACKEND: undefined, NODE_DEBUG: 'uringkit' });
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(parse(r.stdout).backend, 'io_uring');
    assert.equal(r.stderr.match(/backend: /g)?.length, 1, r.stderr);
    assert.match(r.stderr, /backend: io_uring \(io_uring available\)/);
  });

  test('the addon cannot load: the portable backend, with the reason', async () => {
    const r = await runWithEnv(PRINT_RING, {
      UK_BACKEND: undefined, NODE_DEBUG: 'uringkit', UK_ADDON_PATH: '/nonexistent/uringkit.node',
    });
    assert.equal(r.code, 0, describeChild(r));
    assert.equal(parse(r.stdout).backend, 'portable');
    assert.match(r.stderr, /backend: portable \(the addon cannot load: Cannot find module '\/nonexistent\/uringkit\.node'/);
  });

  test('forcing io_uring when the addon cannot load throws ERR_IO_URING_UNAVAILABLE', async () => {
    const code = `
      import { Ring } from __LIB__;
      try { new Ring({ backend: 'io_uring' }); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, message: e.message })); }
    `;
    for (const env of [{ UK_BACKEND: undefined }, { UK_BACKEND: 'io_uring' }]) {
      const r = await runWithEnv(code.replace("{ backend: 'io_uring' }", env.UK_BACKEND ? '' : "{ backend: 'io_uring' }"),
        { ...env, UK_ADDON_PATH: '/nonexistent/uringkit.node' });
      assert.equal(r.code, 0, describeChild(r));
      const o = parse(r.stdout) as { code?: string; message?: string };
      assert.equal(o.code, 'ERR_IO_URING_UNAVAILABLE', r.stdout);
      assert.match(o.message ?? '', /the native addon cannot load/);
    }
  });

  test('io_uring_setup fails with EPERM (seccomp, sysctl): the portable backend takes over; forced io_uring throws', async () => {
    const code = `
      import { Ring, setNativeBinding, nativeBinding } from __LIB__;
      let real; try { real = nativeBinding(); } catch {}
      // An addon whose io_uring_setup is refused, as Docker's default seccomp profile does.
      const fake = Object.assign(Object.create(real ?? {}), {
        create: () => -1, sys: real?.sys, DESC_WORDS: 16, STAGE_HEADER_WORDS: 16, CQE_WORDS: 4,
      });
      setNativeBinding(fake);
      const r = new Ring({ entries: 4 });
      await r.nop();
      const second = new Ring({ entries: 4 });
      let forced;
      try { new Ring({ backend: 'io_uring' }); } catch (e) { forced = { code: e.code, errno: e.errno }; }
      console.log(JSON.stringify({ backend: r.info.backend, second: second.info.backend, forced }));
      await r.close(); await second.close();
    `;
    const r = await runWithEnv(code, { UK_BACKEND: undefined, NODE_DEBUG: 'uringkit' });
    assert.equal(r.code, 0, describeChild(r));
    const o = JSON.parse(r.stdout.trim()) as { backend: string; second: string; forced: { code: string; errno: number } };
    assert.equal(o.backend, 'portable');
    assert.equal(o.second, 'portable');
    assert.deepEqual(o.forced, { code: 'ERR_IO_URING_UNAVAILABLE', errno: -1 });
    assert.match(r.stderr, /backend: portable \(io_uring_setup failed: EPERM\)/);
  });

  test('RingOptions.backend: names, objects, and bad values', () => {
    const p = new Ring({ backend: 'portable' });
    assert.equal(p.info.backend, 'portable');
    void p.close();
    const o = new Ring({ backend: portableBackend() });
    assert.equal(o.info.backend, 'portable');
    void o.close();
    for (const bad of ['epoll', 42, null]) {
      assert.throws(() => new Ring({ backend: bad as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    }
  });

  test('io_uring-only options are refused with a code on the portable backend', () => {
    assert.throws(() => new Ring({ backend: 'portable', allow: ['read'] }),
      { code: 'ERR_INVALID_ARG_VALUE', message: /needs the io_uring backend/ });
    assert.throws(() => new Ring({ backend: 'portable', busyPollUs: 10 }), { code: 'ERR_INVALID_ARG_VALUE' });
    const r = new Ring({ backend: 'portable' });
    assert.throws(() => new Ring({ backend: 'portable', attachWq: r }), { code: 'ERR_INVALID_ARG_VALUE' });
    void r.close();
  });
});
