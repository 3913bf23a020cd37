/**
 * The `node-net` peer of the net suite's echo cases: a node:net echo server
 * (TCP_NODELAY, every chunk written back as it comes).
 *   node dist/bench/net/node-net-echo.js [port] [host]   prints `listening on HOST:PORT`
 */
import net from 'node:net';

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';

const server = net.createServer({ noDelay: true }, (s) => {
  s.on('data', (chunk) => s.write(chunk));
  s.on('error', () => s.destroy());
});
server.listen({ port, host, backlog: 1024 }, () => {
  const a = server.address() as net.AddressInfo;
  console.log(`listening on ${a.address}:${a.port}`);
});
const stop = (): void => void server.close();
process.once('SIGINT', stop);
process.once('SIGTERM', () => process.exit(0));
