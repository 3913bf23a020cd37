/**
 * fds opened through uringkit are closed when their thread's environment is
 * torn down, as Node closes its own handles: terminated workers and a
 * worker that crashed leave no fd behind (compared with /proc/self/fd), and
 * a listener in a crashed worker is closed (a new connection is refused
 * instead of hanging in its backlog). Also: what the native tracker holds
 * for this thread follows opens and closes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { File, nativeBinding, Ring, Socket, TcpListener } from '../../src/index.js';
import { tmpDir, type TmpDir } from '../helpers/fs-util.js';
import { deadline, rejectionOf } from '../helpers/net-util.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import type { HolderInput, HolderReport } from './fixtures/fd-holder.js';

const FIXTURE = new URL('./fixtures/fd-holder.js', import.meta.url);

let tmp: TmpDir;
let dataPath: string;
let server: net.Server;
let peers: net.Socket[] = [];

before(async () => {
  tmp = tmpDir('uringkit-teardown-');
  dataPath = tmp.file('data.bin');
  fs.writeFileSync(dataPath, Buffer.alloc(4096, 0x41));
  server = net.createServer((s) => {
    peers.push(s);
    s.on('error', () => {});
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(async () => {
  for (const p of peers) p.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  tmp.remove();
});

/** This process's open fds (the listing's own fd excluded). */
function openFds(): Set<number> {
  const dir = fs.opendirSync('/proc/self/fd');
  const out = new Set<number>();
  for (let e = dir.readSync(); e !== null; e = dir.readSync()) out.add(Number(e.name));
  dir.closeSync();
  return out;
}

function describeFd(fd: number): string {
  try {
    return `${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
  } catch {
    return `${fd} (gone)`;
  }
}

/**
 * Waits (at most 20 s: a loaded machine) until none of `wanted` is open any
 * more (fds in `baseline` excepted); returns the survivors. `wanted` also
 * holds this thread's node:net peers of the workers' sockets, which Node
 * closes once their worker side is gone.
 */
async function leftover(baseline: Set<number>, wanted: number[]): Promise<string[]> {
  let left: number[] = [];
  for (let i = 0; i < 800; i++) {
    const now = openFds();
    left = wanted.filter((fd) => now.has(fd) && !baseline.has(fd));
    if (left.length === 0) return [];
    await new Promise((r) => setTimeout(r, 25));
  }
  return left.map(describeFd);
}

function startHolder(mode: HolderInput['mode']): { worker: Worker; ready: Promise<HolderReport>; exit: Promise<number>;
  errors: unknown[] } {
  const input: HolderInput = { mode, path: dataPath, port: (server.address() as net.AddressInfo).port };
  const worker = new Worker(FIXTURE, { workerData: input });
  const errors: unknown[] = [];
  worker.on('error', (e) => errors.push(e));
  const ready = new Promise<HolderReport>((resolve, reject) => {
    worker.on('message', (m: HolderReport) => {
      if (m.type === 'ready') resolve(m);
    });
    worker.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${String(errors[0])}`)));
  });
  ready.catch(() => {});
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { worker, ready, exit, errors };
}

describe('fds opened through uringkit at thread teardown', { skip: skipUnlessIoUring('counts the kernel fds the io_uring backend tracks per thread') }, () => {
  test('10 terminated workers leave no fds (File, ring.open, Socket, TcpListener, sendFile pipes)', async () => {
    const baseline = openFds();
    const holders = Array.from({ length: 10 }, () => startHolder('hold'));
    const reports = await deadline(Promise.all(holders.map((h) => h.ready)), 60_000, 'workers ready');
    const theirs = new Set<number>();
    for (const r of reports) {
      assert.equal(r.fds.length, 4);
      assert.ok(r.poolPipes >= 1, 'a pipe is pooled');
      for (const fd of r.fds) theirs.add(fd);
    }
    // Every fd the workers opened (their rings, eventfds and pipes too) is new.
    const during = openFds();
    const opened = [...during].filter((fd) => !baseline.has(fd));
    for (const fd of theirs) assert.ok(during.has(fd), `fd ${fd} is open while the workers run`);
    await Promise.all(holders.map((h) => h.worker.terminate()));
    await deadline(Promise.all(holders.map((h) => h.exit)), 60_000, 'workers exit');
    assert.deepEqual(await leftover(baseline, opened), [], 'fds left open by terminated workers');
    for (const h of holders) assert.deepEqual(h.errors, []);
  });

  test('a worker that throws leaves no fds, and its listener is closed (connect is refused)', async () => {
    const baseline = openFds();
    const h = startHolder('crash');
    const report = await deadline(h.ready, 60_000, 'worker ready');
    const opened = [...openFds()].filter((fd) => !baseline.has(fd));
    await deadline(h.exit, 60_000, 'crashed worker exits');
    assert.equal(h.errors.length, 1);
    assert.match(String(h.errors[0]), /crashed on purpose/);
    assert.deepEqual(await leftover(baseline, opened), [], 'fds left open by the crashed worker');
    const e = await rejectionOf(deadline(Socket.connect(`127.0.0.1:${report.listenPort}`), 20_000, 'connect'),
      'connect to the crashed worker\'s port');
    assert.equal(e.code, 'ECONNREFUSED', String(e));
  });

  test("this thread's tracked fds follow opens and closes", async () => {
    const nb = nativeBinding();
    assert.equal(typeof nb.trackedFds, 'function');
    const ring = Ring.current();
    const start = new Set(nb.trackedFds!());
    const fresh = (): number[] => nb.trackedFds!().filter((fd) => !start.has(fd));
    const f = await File.open(dataPath, 'r');
    const raw = await ring.open(dataPath, 'r');
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const accepted = l.accept();
    const c = await Socket.connect(l.address());
    const s = await accepted;
    assert.deepEqual(fresh().sort((a, b) => a - b), [f.fd, raw, l.fd, c.fd, s.fd].sort((a, b) => a - b));
    await f.close();
    await ring.closeFd(raw);
    await c.close();
    await s.close();
    await l.close();
    assert.deepEqual(fresh(), []);
  });
});
