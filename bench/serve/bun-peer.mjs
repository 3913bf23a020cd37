// The bun peer of the serve suite: Bun.serve answering each request with a
// Response of Bun.file (bun sends it with sendfile(2) where it can); a missing
// file ends in error() → 404.
//   bun bench/serve/bun-peer.mjs <root> <port>
const [root, port] = process.argv.slice(2);
Bun.serve({
  hostname: '127.0.0.1',
  port: Number(port),
  idleTimeout: 30,
  fetch(req) {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes('..')) return new Response('forbidden', { status: 403 });
    return new Response(Bun.file(root + path));
  },
  error() {
    return new Response('not found', { status: 404 });
  },
});
console.log(`listening on ${port}`);
