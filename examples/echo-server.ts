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
 * written back with the callback form of write() (no Promise per write; the
 * Socket keeps writes in order) without waiting for the send to complete,
 * until too many are queued (then the loop waits for drain(): backpressure).
 *
 * `startEchoServer()` is exported so the server's own tests can run it on
 * any ring, including a MockBackend (test/backend/echo-server-on-mock.test.ts).
 */
import { pathToFileURL } from 'node:url';

import { Ring, Socket, TcpListener, type SocketAddress } from '../src/index.js';

/** Writes queued on one connection before the reader waits for them. */
const MAX_QUEUED = 32;

export interface EchoServer {
  address: SocketAddress;
  /** Connections being served. */
  readonly open: ReadonlySet<Socket>;
  /** How each finished connection ended: 'eof' or an error code. */
  readonly outcomes: string[];
  /** Stop accepting, end every connection's receive side, wait until all have closed. */
  stop(): Promise<void>;
}

export function startEchoServer({ ring = Ring.current(), port = 0, host = '127.0.0.1' }:
  { ring?: Ring; port?: number; host?: string } = {}): EchoServer {
  const listener = TcpListener.bind({ ring, host, port, backlog: 1024, socket: { noDelay: true } });
  const open = new Set<Socket>();
  const outcomes: string[] = [];
  const serving = new Set<Promise<void>>();

  async function serve(s: Socket): Promise<void> {
    open.add(s);
    let failed = false;
    let outcome = 'eof';
    const onError = (err: { code?: string }): void => {
      failed = true;
      outcome = err.code ?? 'error';
    };
    const onWritten = (err: Error | null): void => {
      if (err) onError(err as { code?: string });
    };
    try {
      for await (const chunk of s) {
        s.write(chunk, undefined, onWritten); // the callback form: no Promise per write
        if (s.pendingWrites > MAX_QUEUED) await s.drain();
        if (failed) break;
      }
    } catch (err) {
      // ECONNRESET and the like: the connection is over
      outcome = (err as { code?: string }).code ?? 'error';
    } finally {
      open.delete(s);
      if (failed) s.destroy();
      else await s.close(); // after the queued writes
      outcomes.push(outcome);
    }
  }

  const accepting = (async () => {
    for await (const s of listener) {
      const p = serve(s);
      serving.add(p);
      void p.finally(() => serving.delete(p));
    }
  })();

  return {
    address: listener.address(),
    open,
    outcomes,
    async stop() {
      await listener.close();
      await accepting;
      // End each connection's receive side: its loop ends, flushes and closes.
      for (const s of open) s.shutdown('read').catch(() => s.destroy());
      await Promise.all([...serving]);
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.argv[2] ?? process.env['PORT'] ?? 7000);
  const host = process.argv[3] ?? process.env['HOST'] ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`bad port ${process.argv[2] ?? process.env['PORT']}`);
    process.exit(2);
  }
  const server = startEchoServer({ port, host });
  console.log(`listening on ${server.address.address}:${server.address.port}`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.error(`echo-server: closing (${server.open.size} connection${server.open.size === 1 ? '' : 's'} open)`);
    setTimeout(() => {
      for (const s of server.open) s.destroy();
    }, 2000).unref();
    void server.stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
