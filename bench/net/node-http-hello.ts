/**
 * The `node-http` peer of the net suite's http-hello case: node:http
 * answering every request 200 with the 11-byte body "hello world"
 * (keep-alive, as node:http does by default).
 *   node dist/bench/net/node-http-hello.js [port] [host]   prints `listening on HOST:PORT`
 */
import http from 'node:http';
import type net from 'node:net';

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';
const BODY = Buffer.from('hello world');

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
});
server.listen({ port, host, backlog: 1024 }, () => {
  const a = server.address() as net.AddressInfo;
  console.log(`listening on ${a.address}:${a.port}`);
});
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
