/**
 * Shared by the bulk tests (bulk.test.ts, bulk-pipe.test.ts): an independent
 * 1 GiB sender in a child process, a pipeTo proxy, a client -> [a b] -> sink
 * chain, and the io-wq worker threads of this process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { Socket, TcpListener } from '../../src/index.js';
import type { PipeOptions } from '../../src/net/pipe.js';

/**
 * A child process that connects to 127.0.0.1:`port`, sends `bytes` bytes
 * (1 MiB random blocks, each stamped with its index), ends its side, and
 * prints the SHA-256 of what it sent once the peer closed. Resolves with
 * that hash.
 */
export function sendFromChild(port: number, bytes: number): Promise<string> {
  const code = `
    const net = require('node:net'); const crypto = require('node:crypto');
    const block = crypto.randomBytes(1 << 20); const h = crypto.createHash('sha256');
    let left = ${bytes}; let index = 0;
    const s = net.connect(${port}, '127.0.0.1');
    s.on('error', (e) => { console.error(e.message); process.exit(1); });
    s.resume();
    s.on('close', () => console.log(h.digest('hex')));
    function pump() {
      while (left > 0) {
        const n = Math.min(left, block.length);
        const b = Buffer.from(block.subarray(0, n)); b.writeUInt32LE(index++, 0);
        h.update(b); left -= n;
        if (!s.write(b)) { s.once('drain', pump); return; }
      }
      s.end();
    }
    s.on('connect', pump);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const hex = out.trim();
      if (code === 0 && /^[0-9a-f]{64}$/.test(hex)) resolve(hex);
      else reject(new Error(`sender exited ${code}: ${err.trim()} ${hex}`));
    });
  });
}

/** A listener whose connections are piped both ways to `target` (the proxy); resolves each pipe's outcome. */
export function proxy(listener: TcpListener, targetPort: number, outcomes: Promise<unknown>[],
  options?: PipeOptions): Promise<void> {
  return (async () => {
    for await (const a of listener) {
      outcomes.push((async () => {
        const b = await Socket.connect(`127.0.0.1:${targetPort}`);
        try {
          return await Promise.all([a.pipeTo(b, options), b.pipeTo(a, options)]);
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      })());
    }
  })();
}

/** client -> [a  b] -> sinkSide: two connections on `l`, the middle pair to be piped. */
export async function chain(l: TcpListener, clientOptions?: { linger: number }):
  Promise<{ client: Socket; a: Socket; b: Socket; sinkSide: Socket }> {
  const aP = l.accept();
  const client = await Socket.connect(l.address(), clientOptions);
  const a = await aP;
  const bP = l.accept();
  const b = await Socket.connect(l.address());
  return { client, a, b, sinkSide: await bP };
}


/**
 * The io-wq worker threads of this process ("iou-wrk-PID") that are not idle:
 * each as `tid:wchan` where the kernel function it sleeps in is not the
 * workers' idle loop (io_wq_worker). Empty when every worker is idle or gone.
 */
export function busyIoWorkers(): string[] {
  const out: string[] = [];
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      if (!comm.startsWith('iou-wrk')) continue;
      const wchan = fs.readFileSync(`/proc/self/task/${tid}/wchan`, 'utf8').trim();
      if (wchan !== 'io_wq_worker') out.push(`${tid}:${wchan}`);
    } catch {
      // the thread exited in between
    }
  }
  return out;
}
