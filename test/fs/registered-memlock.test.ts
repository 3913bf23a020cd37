/**
 * RLIMIT_MEMLOCK: a pool the limit cannot cover is not registered, says why
 * under NODE_DEBUG=uringkit, and its buffers still work with plain reads and
 * writes. Runs a child under `prlimit --memlock` (and, as root, without
 * CAP_IPC_LOCK, which exempts a process from the limit).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import { LIB_URL, describeChild, runProcess } from '../helpers/child.js';
import { pattern, tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';

let tmp: TmpDir;
before(() => {
  tmp = tmpDir('uringkit-memlock-');
});
after(() => tmp.remove());

const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

const CHILD = `
import fs from 'node:fs';
import { File, Ring } from ${JSON.stringify(LIB_URL)};
const capEff = BigInt('0x' + /CapEff:\\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
const ipcLock = (capEff >> 14n) & 1n;
const ring = Ring.current();
const pool = ring.registerBuffers({ count: 64, size: 65536 }); // 4 MiB, over the 1 MiB limit
const b = pool.acquire();
const f = await File.open(process.argv[1], 'r+');
const n = await f.read(b, { position: 0 });
const head = b.subarray(0, 8).toString('hex');
b.fill(0x7a, 0, 4096);
const w = await f.write(b, { position: 8192, length: 4096 });
await f.close();
console.log(JSON.stringify({ ipcLock: Number(ipcLock), registered: pool.registered, n, head, w, stats: pool.stats() }));
`;

test('a pool over RLIMIT_MEMLOCK falls back to plain reads and writes, with a debug message',
  { skip: skipUnlessIoUring('needs buffer registration (the portable backend never registers)') }, async (t) => {
  if (!has('prlimit')) {
    t.skip('prlimit (util-linux) is not installed');
    return;
  }
  const p = tmp.file('data');
  fs.writeFileSync(p, pattern(65536, 4));
  const root = process.getuid?.() === 0;
  if (root && !has('setpriv')) {
    t.skip('running as root (CAP_IPC_LOCK ignores the limit) and setpriv is not installed to drop it');
    return;
  }
  const args = ['NODE_DEBUG=uringkit'];
  if (root) args.push('setpriv', '--bounding-set=-ipc_lock');
  args.push('prlimit', '--memlock=1048576:1048576', process.execPath, '--input-type=module', '-e', CHILD, p);
  const r = await runProcess('env', args, 60_000);
  assert.equal(r.code, 0, describeChild(r));
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    ipcLock: number; registered: boolean; n: number; head: string; w: number;
    stats: { fixedReads: number; fixedWrites: number; registered: boolean };
  };
  assert.equal(out.ipcLock, 0, 'the child runs without CAP_IPC_LOCK');
  assert.equal(out.registered, false, 'not registered under the limit');
  assert.equal(out.stats.fixedReads, 0);
  assert.equal(out.stats.fixedWrites, 0);
  assert.equal(out.n, 65536, 'the read still works (plain READ)');
  assert.equal(out.head, pattern(65536, 4).subarray(0, 8).toString('hex'));
  assert.equal(out.w, 4096, 'the write still works (plain WRITE)');
  assert.deepEqual(fs.readFileSync(p).subarray(8192, 8192 + 4096), Buffer.alloc(4096, 0x7a));
  assert.match(r.stderr, /IORING_REGISTER_BUFFERS \(4194304 bytes\) failed: ENOMEM \(RLIMIT_MEMLOCK too low/,
    describeChild(r));
});
