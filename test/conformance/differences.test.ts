/**
 * Conformance, documented differences: each case below behaves one way on
 * io_uring and, on a backend whose fixture names it in `differs()`, the way
 * docs/guides/testing-with-mock.md ("What the mock models and what it does
 * not") says. Both branches assert; nothing is skipped.
 * (sendFile and worker messages are asserted in net.test.ts and
 * messages.test.ts.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, test } from 'node:test';

import type { Ring } from '../../src/index.js';
import {
  backends, DIFF_FOREIGN_FD, DIFF_PERMISSIONS, DIFF_RING_INFO, DIFF_STAT_IDENTITY, DIFF_UMASK, describeBackend, outcome,
  shape,
} from './backends.js';

const isRoot = process.getuid?.() === 0;

for (const b of backends()) {
  describeBackend(b, 'documented differences', () => {
    let ring: Ring;
    beforeEach(() => {
      ring = b.makeRing();
    });

    test(`${DIFF_FOREIGN_FD}: a file opened with node:fs, read through the ring`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-conformance-fd-'));
      const p = path.join(dir, 'real.txt');
      fs.writeFileSync(p, 'on disk');
      const fd = fs.openSync(p, 'r');
      try {
        const buf = Buffer.alloc(16);
        const o = await outcome(ring.read(fd, buf, { position: 0 }));
        if (b.differs(DIFF_FOREIGN_FD) === undefined) {
          assert.ok(o.ok);
          assert.equal(buf.toString('utf8', 0, o.value), 'on disk');
        } else {
          assert.ok(!o.ok);
          assert.deepEqual(shape(o.error), { name: 'Error', code: 'EBADF', errno: -9, syscall: 'read' });
        }
      } finally {
        fs.closeSync(fd);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test(`${DIFF_PERMISSIONS}: opening a mode-000 file for reading`, async () => {
      const p = `${b.dir()}/locked`;
      await ring.closeFd(await ring.open(p, 'w', 0o000));
      const o = await outcome(ring.open(p, 'r'));
      if (b.differs(DIFF_PERMISSIONS) === undefined && !isRoot) {
        assert.ok(!o.ok);
        assert.deepEqual(shape(o.error), { name: 'Error', code: 'EACCES', errno: -13, syscall: 'open', path: p });
      } else {
        // Root (CAP_DAC_OVERRIDE) on the kernel, or a backend without permission checks.
        assert.ok(o.ok, `open failed: ${o.ok ? '' : o.error.message}`);
        await ring.closeFd(o.value);
      }
    });

    test(`${DIFF_STAT_IDENTITY}: who owns a new file and which device holds it`, async () => {
      const dir = b.dir();
      const p = `${dir}/owned`;
      b.writeFile(p, 'x');
      const st = await ring.statx(p);
      if (b.differs(DIFF_STAT_IDENTITY) === undefined) {
        const real = fs.statSync(p);
        assert.equal(st.dev, real.dev);
        assert.equal(st.uid, process.getuid?.());
        assert.equal(st.gid, real.gid);
      } else {
        assert.equal(st.dev, 0x4d, 'makedev(0, 0x4d)');
        assert.equal(st.uid, 0);
        assert.equal(st.gid, 0);
      }
    });

    test(`${DIFF_UMASK}: mkdir with mode 0o777`, async () => {
      const dir = b.dir();
      await ring.mkdir(`${dir}/d`, 0o777);
      const mode = (await ring.statx(`${dir}/d`)).mode & 0o777;
      if (b.differs(DIFF_UMASK) === undefined) {
        // What node:fs gets from the same kernel with the same process umask.
        fs.mkdirSync(`${dir}/by-node`, 0o777);
        assert.equal(mode, fs.statSync(`${dir}/by-node`).mode & 0o777);
      } else {
        assert.equal(mode, 0o755);
      }
    });

    test(`${DIFF_RING_INFO}: the ring's fd`, () => {
      const fd = ring.info.fd;
      if (b.differs(DIFF_RING_INFO) === undefined) {
        assert.ok(Number.isInteger(fd) && fd >= 0, `info.fd ${fd}`);
      } else {
        assert.equal(fd, -1);
      }
    });
  });
}
