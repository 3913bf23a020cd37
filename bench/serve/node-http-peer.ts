/**
 * The node-http peer of the serve suite: node:http with fs.stat and
 * fs.createReadStream, the way a plain Node static server sends a file.
 *   node dist/bench/serve/node-http-peer.js <root> <port>
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [root, portArg] = process.argv.slice(2);
if (root === undefined || portArg === undefined) {
  process.stderr.write('usage: node-http-peer.js <root> <port>\n');
  process.exit(2);
}

const server = http.createServer((req, res) => {
  const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
  const file = path.join(root, path.normalize(rel));
  if (!file.startsWith(root)) {
    res.writeHead(403).end();
    return;
  }
  fs.stat(file, (err, st) => {
    if (err !== null || !st.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': st.size,
      'Last-Modified': st.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`listening on ${portArg}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
