/**
 * uringkit serve out of file descriptors (issue 16 item 4): with
 * RLIMIT_NOFILE lowered (the server runs in a child started with prlimit from
 * util-linux) and the table filled by connections, existing files are
 * answered 200 in full or 503 with Retry-After: never 404, never a short 200.
 * Accept failures are logged, rate-limited.
 *
 * On the portable backend (docs/portable.md) the listener accepts through
 * libuv, which never leaves a connection waiting while the process is out of
 * fds: it accepts it on its reserved fd and closes it unanswered, and reports
 * no accept error. There a connection may also be closed before any byte of a
 * response (never mid-response), no accept warning is logged, and idle
 * connections cannot be shed for a new client (the server never learns of
 * it): that test needs io_uring.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { ioUringSkipReason, skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { makeFixture, rawOnce, RawClient, requestText, startChildServer, within, type Fixture } from './helpers.js';

const prlimit = spawnSync('prlimit', ['--version'], { encoding: 'utf8' });
const skip = prlimit.status === 0 ? false : 'prlimit (util-linux) is not installed: cannot lower RLIMIT_NOFILE of a child';

let fx: Fixture;
before(() => {
  fx = makeFixture(2 * 1024 * 1024);
});
after(() => fx.remove());

const LIMIT = 96;
/** Rings run on the portable backend here (and so does the child server, which inherits the environment). */
const portable = ioUringSkipReason() !== undefined;

/** A connection closed before any byte of its response: libuv's EMFILE handling (portable backend only). */
function closedUnanswered(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || /^connection closed \(buffered 0 bytes/.test(String((e as Error)?.message));
}

for (const cache of [false, true]) {
  test(`EMFILE: 200 in full or 503 with Retry-After, never 404 (cache ${cache ? 'on' : 'off'})`, { skip }, async () => {
    const opts = cache ? {} : { cacheEntries: 0, cacheBytes: 0 };
    const srv = await startChildServer(fx.root, opts, { nofile: LIMIT });
    const { child, port, fds, exited } = srv;
    const clients: RawClient[] = [];
    try {
      assert.ok(fds < LIMIT - 10, `the child already has ${fds} fds open`);
      // More connections than free descriptors: the server's table fills, accept fails with EMFILE.
      // Each sends its request at once: a connection with a request pending is never closed to
      // make room (only idle ones are; see the next test).
      const names = ['hello.txt', 'data.bin', 'big.bin', 'dir/', 'list/'];
      for (let i = 0; i < LIMIT - fds + 20; i++) {
        const c = await RawClient.connect(port);
        c.write(requestText('GET', `/${names[i % names.length]!}`));
        clients.push(c);
      }
      if (!portable) {
        await within((async () => {
          while (!srv.stderr().includes('EMFILE')) await new Promise((r) => setTimeout(r, 20));
        })(), 30_000, 'an accept warning');
      }
      const statuses = new Map<number, number>();
      let unanswered = 0;
      await within(Promise.all(clients.map(async (c, i) => {
        const name = names[i % names.length]!;
        let r: Awaited<ReturnType<RawClient['response']>>;
        try {
          r = await c.response();
        } catch (e) {
          if (!portable || !closedUnanswered(e)) throw e;
          unanswered++;
          c.destroy();
          return;
        }
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        assert.ok(r.status === 200 || r.status === 503, `${name}: ${r.status}`);
        if (r.status === 503) {
          assert.equal(r.headers['retry-after'], '1');
          assert.equal(r.headers.connection, 'close');
        } else if (fx.files[name] !== undefined) {
          assert.deepEqual(r.body, fx.files[name], name);
        } else if (name === 'dir/') assert.deepEqual(r.body, fx.files['dir/index.html']);
        c.destroy(); // gives the server its descriptor back
      })), 120_000, 'every response');
      // Rate-limited: one warning line per 10 s at most (and the whole test is bounded well below a minute).
      const warnings = srv.stderr().split('\n').filter((l) => l.includes('accept failed')).length;
      assert.ok(warnings >= (portable ? 0 : 1) && warnings <= 6, `${warnings} accept warnings:\n${srv.stderr()}`);
      if (!portable) assert.equal(unanswered, 0);
      child.kill('SIGTERM');
      assert.equal(await within(exited, 30_000, 'the child to exit'), 0);
      const closed = /closed (\{.*\}) (\[.*\])/.exec(srv.stdout());
      assert.ok(closed !== null, srv.stdout());
      assert.deepEqual(JSON.parse(closed[2]!), [], 'server-side errors');
      const stats = JSON.parse(closed[1]!) as { unavailable: number; acceptErrors: number };
      const seen = `${JSON.stringify([...statuses])}, ${unanswered} unanswered, ${JSON.stringify(stats)}`;
      if (!portable) {
        assert.ok((statuses.get(503) ?? 0) > 0, `no 503 seen: ${seen}`);
        assert.ok(stats.unavailable > 0 && stats.acceptErrors > 0, seen);
      } else {
        // The portable server may never run short for its files (sendFile's pipe is in memory, and libuv
        // closes the connections beyond the table itself): what it answered must still be 200 or 503.
        assert.ok(stats.unavailable >= (statuses.get(503) ?? 0), seen);
      }
    } finally {
      for (const c of clients) c.destroy();
      child.kill('SIGKILL');
    }
  });
}


test('EMFILE: idle connections are closed, oldest first, to let a new client in (as nginx reuses keep-alive ones)',
  { skip: skip || skipUnlessIoUring('needs accept to fail with EMFILE while the new client waits in the backlog (libuv, under ' +
    'the portable backend, accepts and closes it unanswered)') },
  async () => {
    // Idle deadlines far beyond the hang guard: only the shedding can free a descriptor in time.
    const opts = { keepAliveTimeoutMs: 600_000, headerTimeoutMs: 600_000, requestTimeoutMs: 600_000 };
    const srv = await startChildServer(fx.root, opts, { nofile: LIMIT });
    const { child, port, fds, exited } = srv;
    const idle: RawClient[] = [];
    try {
      // A keep-alive connection that answered once, then many that never send a byte.
      const first = await RawClient.connect(port);
      idle.push(first);
      assert.equal((await first.request('GET', '/hello.txt')).status, 200);
      for (let i = 0; i < LIMIT - fds + 20; i++) idle.push(await RawClient.connect(port));
      await within((async () => {
        while (!srv.stderr().includes('EMFILE')) await new Promise((r) => setTimeout(r, 20));
      })(), 30_000, 'an accept warning');
      // A new client gets in and is answered in full.
      const r = await within(rawOnce(port, requestText('GET', '/data.bin')), 60_000, 'a new client while the table is full');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, fx.files['data.bin']);
      // The oldest idle connection (the keep-alive one) was among those closed.
      await first.waitClosed(30_000);
      child.kill('SIGTERM');
      assert.equal(await within(exited, 30_000, 'the child to exit'), 0);
      const closed = /closed (\{.*\}) (\[.*\])/.exec(srv.stdout());
      assert.ok(closed !== null, srv.stdout());
      assert.deepEqual(JSON.parse(closed[2]!), [], 'server-side errors');
      assert.ok((JSON.parse(closed[1]!) as { idleClosed: number }).idleClosed > 0);
    } finally {
      for (const c of idle) c.destroy();
      child.kill('SIGKILL');
    }
  });
