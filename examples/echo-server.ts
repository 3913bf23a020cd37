/**
 * TCP echo server on uringkit: every byte received is sent back.
 *
 *   node dist/examples/echo-server.js [port] [host]     (or PORT / HOST; default 7000, 127.0.0.1)
 *
 * Port 0 picks a free port. Prints `listening on HOST:PORT` once bound.
 * SIGINT / SIGTERM: stop accepting, let every connection send what it has
 * queued, close them, exit.
 *
 * Receiving is the socket's async iterator (multishot recv); each chunk is
 * written back without waiting for the send to complete (Socket writes are
 * ordered), until too many are queued (then the loop waits: backpressure).
 */
import { Socket, TcpListener } from '../src/index.js';

const port = Number(process.argv[2] ?? process.env['PORT'] ?? 7000);
const host = process.argv[3] ?? process.env['HOST'] ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad port ${process.argv[2] ?? process.env['PORT']}`);
  process.exit(2);
}

/** Writes queued on one connection before the reader waits for them. */
const MAX_QUEUED = 32;

const listener = TcpListener.bind({ host, port, backlog: 1024, socket: { noDelay: true } });
const open = new Set<Socket>();
let stopping = false;

async function serve(s: Socket): Promise<void> {
  open.add(s);
  let failed = false;
  const onError = (): void => {
    failed = true;
  };
  try {
    for await (const chunk of s) {
      const p = s.write(chunk);
      if (s.pendingWrites > MAX_QUEUED) await p;
      else p.then(undefined, onError);
      if (failed) break;
    }
  } catch {
    // ECONNRESET and the like: the connection is over
  } finally {
    open.delete(s);
    if (failed) s.destroy();
    else await s.close(); // after the queued writes
  }
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  console.error(`echo-server: closing (${open.size} connection${open.size === 1 ? '' : 's'} open)`);
  void listener.close();
  // End each connection's receive side: its loop ends, flushes and closes.
  for (const s of open) s.shutdown('read').catch(() => s.destroy());
  setTimeout(() => {
    for (const s of open) s.destroy();
  }, 2000).unref();
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const addr = listener.address();
console.log(`listening on ${addr.address}:${addr.port}`);
for await (const s of listener) void serve(s);
