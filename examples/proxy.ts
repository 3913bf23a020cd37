/**
 * TCP proxy on uringkit: every connection accepted on the listening address
 * is joined to a new connection to the target, bytes moving both ways with
 * Socket.pipeTo: on io_uring it splices socket -> pipe -> socket (the bytes
 * never enter JavaScript); on the portable backend it copies through a
 * reused buffer (no Buffer per chunk). Backpressure is exact either way.
 *
 *   node dist/examples/proxy.js TARGET_PORT [TARGET_HOST] [PORT] [HOST]
 *     (defaults: target 127.0.0.1, listen on 127.0.0.1 port 0)
 *
 * Prints `listening on HOST:PORT` once bound. Half-close travels: when one
 * side ends its output, the other side's output is ended too, and the pair
 * is closed once both directions are done. A reset or an error on either
 * side destroys both sockets of the pair (pipeTo does that). SIGINT /
 * SIGTERM: stop accepting, close the pairs, exit.
 */
import { Socket, TcpListener } from '../src/index.js';

const targetPort = Number(process.argv[2]);
const targetHost = process.argv[3] ?? '127.0.0.1';
const port = Number(process.argv[4] ?? 0);
const host = process.argv[5] ?? '127.0.0.1';
if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535 || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: proxy.js TARGET_PORT [TARGET_HOST] [PORT] [HOST]');
  process.exit(2);
}

const open = new Set<Socket>();

/** Joins `client` to a new connection to the target until both directions end. */
async function serve(client: Socket): Promise<void> {
  open.add(client);
  let upstream: Socket | undefined;
  try {
    upstream = await Socket.connect(`${targetHost}:${targetPort}`);
    open.add(upstream);
    // Each direction ends (half-close) on its own; an error in either destroys both sockets.
    await Promise.all([client.pipeTo(upstream), upstream.pipeTo(client)]);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ECONNRESET' && code !== 'EPIPE') console.error(`proxy: ${(err as Error).message}`);
  } finally {
    open.delete(client);
    await client.close().catch(() => {});
    if (upstream !== undefined) {
      open.delete(upstream);
      await upstream.close().catch(() => {});
    }
  }
}

const listener = TcpListener.bind({ host, port, backlog: 1024 });
const stop = (): void => {
  void listener.close();
  for (const s of open) s.destroy();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const addr = listener.address();
console.log(`listening on ${addr.address}:${addr.port}`);
for await (const s of listener) void serve(s);
