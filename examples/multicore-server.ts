/**
 * A thread-per-core HTTP server: every worker (one per CPU, pinned) binds the
 * same port with SO_REUSEPORT and serves connections on its own ring; the
 * kernel spreads incoming connections across the workers.
 *
 *   npx tsc -p tsconfig.json && node dist/examples/multicore-server.js [port]   (default 8080, or $PORT)
 *   curl -i http://127.0.0.1:8080/
 *
 * Graceful shutdown on SIGINT or SIGTERM (main thread): the workers stop
 * accepting (their listeners close), idle keep-alive connections are closed,
 * requests in progress are answered (with `Connection: close`); connections
 * still open after the grace period (5 s) are aborted. A second Ctrl-C during
 * the grace period kills the process (Node's default, the listener is gone).
 *
 * This file is both the main program and the worker module (its default export).
 */
import { isMainThread } from 'node:worker_threads';

import { TaskGroup, TcpListener, type Socket } from '../src/index.js';
import { startWorkers, waitSignal, type WorkerContext } from '../src/thread/index.js';

const GRACE_MS = 5000;

interface ServerData {
  host: string;
  port: number;
  graceMs: number;
}

interface Conn {
  socket: Socket;
  /** No request is partially received or being answered. */
  idle: boolean;
}

function response(worker: number, close: boolean): string {
  const body = `hello from worker ${worker}\n`;
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
    `Connection: ${close ? 'close' : 'keep-alive'}\r\n\r\n${body}`;
}

/** One connection: answers each request (headers only; bodies are not read) until the peer or shutdown ends it. */
async function serveConnection(c: Conn, worker: number, stopping: AbortSignal): Promise<void> {
  let pending = '';
  try {
    for await (const chunk of c.socket) {
      c.idle = false;
      pending += chunk.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        pending = pending.slice(end + 4);
        const close = stopping.aborted;
        await c.socket.write(response(worker, close));
        if (close) return;
      }
      c.idle = pending.length === 0;
      if (c.idle && stopping.aborted) return;
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ECONNRESET' && code !== 'EPIPE' && code !== 'ERR_SOCKET_CLOSED') {
      console.error(`worker ${worker}: connection error`, err);
    }
  } finally {
    await c.socket.close().catch(() => {});
  }
}

/** The worker: serve until ctx.signal aborts, then drain within the grace period. */
export default async function worker(ctx: WorkerContext<ServerData>): Promise<void> {
  const { host, port, graceMs } = ctx.data;
  const listener = TcpListener.bind({ host, port, reusePort: true });
  const open = new Set<Conn>();
  // Connection handlers never reject (errors are handled inside), so the
  // group only tracks them; it is joined with a deadline at shutdown.
  const connections = new TaskGroup();
  // listener.close() is awaited exactly once, by whoever started it: a second
  // call resolves at once, before the first has closed the fd.
  let closing: Promise<void> | undefined;
  const onStop = (): void => {
    closing = listener.close(); // stop accepting: ends the accept loop below
    for (const c of open) if (c.idle) c.socket.destroy(); // nothing to finish on an idle keep-alive connection
  };
  ctx.signal.addEventListener('abort', onStop, { once: true });
  try {
    for await (const socket of listener) {
      const c: Conn = { socket, idle: true };
      open.add(c);
      connections.spawn(() => serveConnection(c, ctx.index, ctx.signal).finally(() => open.delete(c)));
    }
  } finally {
    ctx.signal.removeEventListener('abort', onStop);
    await (closing ?? listener.close());
  }
  // Draining: requests in progress get their answers, within the grace period.
  if (!(await connections.join({ timeout: graceMs }))) {
    console.error(`worker ${ctx.index}: aborting ${open.size} connection(s) after the ${graceMs} ms grace period`);
    for (const c of open) c.socket.destroy();
    await connections.join();
  }
}

if (isMainThread) {
  const port = Number(process.argv[2] ?? process.env['PORT'] ?? 8080);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const workers = startWorkers<ServerData>({ module: new URL(import.meta.url), data: { host, port, graceMs: GRACE_MS } });
  await workers.ready();
  const cpus = workers.workers.map((w) => (w.cpu === null ? 'unpinned' : `cpu ${w.cpu}`)).join(', ');
  console.log(`listening on http://${host}:${port}/ with ${workers.workers.length} workers (${cpus}); Ctrl-C to stop`);

  const noSignal = new AbortController();
  const first = await Promise.race([
    waitSignal(['SIGINT', 'SIGTERM'], { signal: noSignal.signal })
      .then((name) => ({ name, error: undefined }), () => ({ name: undefined, error: undefined })),
    workers.join().then(() => ({ name: undefined, error: undefined }), (error: unknown) => ({ name: undefined, error })),
  ]);
  if (first.name !== undefined) {
    console.log(`${first.name}: shutting down (grace period ${GRACE_MS} ms)`);
    // Workers drain on their own within GRACE_MS; the bound terminates any that would not.
    const { terminated } = await workers.stop({ timeoutMs: GRACE_MS + 2000 });
    if (terminated.length > 0) console.log(`terminated workers ${terminated.join(', ')}`);
    await workers.join();
    console.log('stopped');
  } else {
    noSignal.abort();
    if (first.error !== undefined) {
      console.error('a worker failed:', first.error);
      process.exitCode = 1;
    }
  }
}
