/**
 * Receivers and proxies of the net suite's bulk cases, one process each,
 * serving connections one after the other.
 *
 *   node dist/bench/net/bulk-peer.js recv        uringkit: Socket.recv() into one reused 128 KiB buffer
 *   node dist/bench/net/bulk-peer.js recv-nospin the same on a ring with bulkBusyPollUs 0 (no busy poll)
 *   node dist/bench/net/bulk-peer.js iter        uringkit: for await (const chunk of socket)
 *   node dist/bench/net/bulk-peer.js node        node:net: 'data' events
 *   node dist/bench/net/bulk-peer.js node-proxy TARGET_PORT   node:net: a.pipe(b), b.pipe(a)
 *
 * Each prints `listening on 127.0.0.1:PORT`. A receiver reads until EOF,
 * then closes (the sender waits for that close: its timing covers every
 * byte being read). (The uringkit proxy is examples/proxy.ts.)
 */
import net from 'node:net';

import { Ring, TcpListener } from '../../src/index.js';

const HOST = '127.0.0.1';
const mode = process.argv[2];

function nodeServer(onConnection: (s: net.Socket) => void): void {
  const server = net.createServer(onConnection);
  server.listen({ port: 0, host: HOST, backlog: 64 }, () => {
    console.log(`listening on ${HOST}:${(server.address() as net.AddressInfo).port}`);
  });
  process.once('SIGTERM', () => process.exit(0));
}

if (mode === 'node') {
  nodeServer((s) => {
    let n = 0;
    s.on('data', (chunk: Buffer) => (n += chunk.length));
    s.on('end', () => s.end());
    s.on('error', () => s.destroy());
  });
} else if (mode === 'node-proxy') {
  const target = Number(process.argv[3]);
  nodeServer((a) => {
    const b = net.connect(target, HOST);
    a.pipe(b);
    b.pipe(a);
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
  });
} else if (mode === 'recv' || mode === 'recv-nospin' || mode === 'iter') {
  // The default ring busy-polls while recv() takes bulk data (RingOptions.bulkBusyPollUs): off here.
  if (mode === 'recv-nospin') Ring.current({ bulkBusyPollUs: 0 });
  const listener = TcpListener.bind({ host: HOST, port: 0 });
  console.log(`listening on ${HOST}:${listener.address().port}`);
  process.once('SIGTERM', () => process.exit(0));
  // 128 KiB stays in the CPU's cache between receives (docs/guides/networking.md, "Bulk data").
  const buf = Buffer.allocUnsafe(128 * 1024);
  for await (const s of listener) {
    let n = 0;
    try {
      if (mode !== 'iter') {
        for (let k; (k = await s.recv(buf)) > 0;) n += k;
      } else {
        for await (const chunk of s) n += chunk.length;
      }
    } catch {
      // a reset sender: next connection
    }
    await s.close();
  }
} else {
  console.error('usage: bulk-peer.js recv|recv-nospin|iter|node|node-proxy TARGET_PORT');
  process.exit(2);
}
