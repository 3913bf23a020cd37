/**
 * Socket behaviour that needs a process of its own: no SIGPIPE when the peer
 * goes away mid-send, and an accept loop that survives EMFILE (a child with
 * a lowered RLIMIT_NOFILE).
 *
 * EMFILE on the portable backend (docs/portable.md): its listeners accept
 * through libuv, which never leaves a connection waiting in the backlog while
 * the process is out of fds: it accepts it on its reserved fd and closes it at
 * once, and reports no error. There the connection that arrived while the fds
 * were exhausted is closed without a byte (or served, when Node released one
 * of its own fds meanwhile), no acceptError is seen, and the loop goes on
 * serving once fds are free.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { describeChild, type ChildResult } from '../helpers/child.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { childResult, runNetChild } from '../helpers/net-util.js';

const CHILD_DEADLINE = 60_000;

function assertClean(r: ChildResult): void {
  assert.equal(r.killed, false, `the child did not finish within ${CHILD_DEADLINE} ms\n${describeChild(r)}`);
  assert.equal(r.signal, null, `the child died of a signal\n${describeChild(r)}`);
  assert.equal(r.code, 0, describeChild(r));
}

describe('SIGPIPE', () => {
  test('a peer closing mid-send gives ECONNRESET/EPIPE errors, never SIGPIPE (a write(2) control does raise it)',
    { skip: skipUnlessIoUring('its control write(2)s on the socket fd (a virtual fd on the portable backend: EBADF)') }, async () => {
    const r = await runNetChild(`
      import fs from 'node:fs';
      import { Socket, TcpListener } from __LIB__;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      // Node ignores SIGPIPE; a handler makes every delivery visible.
      let sigpipes = 0;
      process.on('SIGPIPE', () => { sigpipes++; });
      const l = TcpListener.bind();
      const out = {};
      async function scenario(name, closePeer) {
        const accepted = l.accept();
        const c = await Socket.connect(l.address(), { sendBuffer: 65536 });
        const s = await accepted;
        const big = Buffer.alloc(8 << 20, 1);
        const writer = (async () => { for (let i = 0; i < 64; i++) await c.write(big); return 'completed'; })()
          .catch((e) => e.code);
        await s.recv(Buffer.alloc(65536)); // the transfer is under way
        await closePeer(s);
        const first = await writer;
        const later = [];
        for (let i = 0; i < 3; i++) later.push(await c.write('more').then(() => 'ok', (e) => e.code));
        out[name] = { first, later, fd: c.fd };
        return c;
      }
      // The peer closes with unread data (the kernel resets the connection).
      const a = await scenario('close', (s) => s.close());
      // The peer shuts down both directions first, then closes.
      const b = await scenario('shutdown', async (s) => { await s.shutdown('both'); await s.close(); });
      // Our own side shut for writing: send(2) fails with EPIPE (SIGPIPE without MSG_NOSIGNAL).
      {
        const accepted = l.accept();
        const c = await Socket.connect(l.address());
        const s = await accepted;
        await c.shutdown('write');
        out.localShutdown = await c.write('x').then(() => 'ok', (e) => e.code);
        await c.close(); await s.close();
      }
      await sleep(300); // room for a stray SIGPIPE to be delivered and counted
      out.before = sigpipes;
      // Control: a plain write(2) (no MSG_NOSIGNAL) on the dead socket does raise SIGPIPE.
      try { fs.writeSync(a.fd, 'x'); out.control = 'no error'; } catch (e) { out.control = e.code; }
      for (let i = 0; i < 500 && sigpipes === out.before; i++) await sleep(10);
      out.after = sigpipes;
      await a.close(); await b.close(); await l.close();
      console.log(JSON.stringify({ result: out }));
    `, CHILD_DEADLINE);
    assertClean(r);
    const out = childResult<Record<string, { first: string; later: string[] } | number | string>>(r);
    assert.ok(out, describeChild(r));
    for (const name of ['close', 'shutdown']) {
      const x = out[name] as { first: string; later: string[] };
      assert.ok(['ECONNRESET', 'EPIPE'].includes(x.first), `${name}: the interrupted write failed with ${x.first}`);
      assert.deepEqual(x.later, ['EPIPE', 'EPIPE', 'EPIPE'], `${name}: later writes`);
    }
    assert.equal(out.localShutdown, 'EPIPE', 'write after our own shutdown("write")');
    assert.equal(out.before, 0, `SIGPIPE raised by the library's sends\n${describeChild(r)}`);
    assert.equal(out.control, 'EPIPE', 'control write(2)');
    assert.equal(out.after, 1, `the control write(2) raised exactly one SIGPIPE (detection works)\n${describeChild(r)}`);
  });
});

describe('EMFILE in the accept loop', () => {
  const script = (withListener: boolean) => `
    import fs from 'node:fs';
    import { Ring, Socket, TcpListener } from __LIB__;
    const backend = Ring.current().info.backend;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const l = TcpListener.bind();
    const acceptErrors = [];
    ${withListener ? "l.on('acceptError', (e) => acceptErrors.push(e.code));" : ''}
    const warnings = [];
    process.on('warning', (w) => warnings.push(w.code));
    let served = 0;
    let closed = 0;
    const loop = (async () => {
      for await (const s of l) {
        served++;
        await s.write('hello ' + served);
        await s.close();
        closed++;
      }
      return 'ended';
    })().catch((e) => 'threw ' + e.code);
    async function client(c) {
      c ??= await Socket.connect(l.address());
      const b = Buffer.alloc(64);
      let got = '';
      try {
        for (let n; (n = await c.recv(b)) > 0;) got += b.toString('utf8', 0, n);
      } catch (e) {
        got += '<' + e.code + '>'; // closed by the peer without a byte read (portable: libuv's EMFILE handling)
      }
      await c.close();
      return got;
    }
    const warm = await client(); // everything set up before the fds run out
    // The server's side of that connection must be closed too, or its fd comes back mid-test.
    for (let i = 0; i < 1000 && closed < 1; i++) await sleep(5);
    const fillers = [];
    for (;;) {
      try { fillers.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code === 'EMFILE') break; throw e; }
    }
    fs.closeSync(fillers.pop()); // room for the client's socket only: accept() has no fd left
    const c = await Socket.connect(l.address()); // the kernel completes the handshake; accepting fails
    const seen = () => acceptErrors.length + warnings.filter((w) => w === 'UK_ACCEPT_ERROR').length;
    for (let i = 0; i < 1000 && seen() < 2; i++) await sleep(10);
    const whileFull = { acceptErrors: acceptErrors.slice(), warnings: warnings.slice(), served };
    for (const fd of fillers) fs.closeSync(fd);
    const pending = await client(c);    // the connection waiting in the backlog is served
    const after = await client();        // and new ones are
    await l.close();
    const ended = await loop;
    console.log(JSON.stringify({ result: { backend, warm, whileFull, pending, after, ended, fillers: fillers.length + 1 } }));
  `;

  interface Out {
    backend: string;
    warm: string;
    whileFull: { acceptErrors: string[]; warnings: string[]; served: number };
    pending: string;
    after: string;
    ended: string;
    fillers: number;
  }

  /** The portable backend's documented EMFILE behaviour (see the header): the loop survives and serves on. */
  function assertPortable(out: Out, r: ChildResult): void {
    assert.equal(out.warm, 'hello 1');
    assert.deepEqual(out.whileFull.acceptErrors, [], 'libuv reports no accept error');
    assert.deepEqual(out.whileFull.warnings, []);
    assert.ok(out.whileFull.served === 1 || out.whileFull.served === 2, `served ${out.whileFull.served} while out of fds`);
    const closedUnread = out.pending === '' || out.pending === '<ECONNRESET>';
    assert.ok(closedUnread || out.pending === 'hello 2', `the waiting connection: ${JSON.stringify(out.pending)}`);
    assert.equal(out.whileFull.served === 2, out.pending === 'hello 2', 'served early exactly when it was answered');
    assert.equal(out.after, closedUnread ? 'hello 2' : 'hello 3', `later connections are served\n${describeChild(r)}`);
    assert.equal(out.ended, 'ended', 'close() ends the accept loop without an error');
  }

  test("reports EMFILE through 'acceptError' and keeps serving once fds are free (RLIMIT_NOFILE 256)", async () => {
    const r = await runNetChild(script(true), CHILD_DEADLINE, 256);
    assertClean(r);
    const out = childResult<Out>(r);
    assert.ok(out, describeChild(r));
    assert.ok(out.fillers > 10, `fds were exhausted by the filler loop (${out.fillers})`);
    assert.equal(out.warm, 'hello 1');
    if (out.backend === 'portable') return assertPortable(out, r);
    assert.ok(out.whileFull.acceptErrors.length >= 1, `no acceptError while out of fds\n${describeChild(r)}`);
    assert.ok(out.whileFull.acceptErrors.every((c) => c === 'EMFILE'), `acceptError codes: ${out.whileFull.acceptErrors}`);
    assert.deepEqual(out.whileFull.warnings, [], 'with an acceptError listener there is no process warning');
    // Nothing is accepted while the fds are exhausted, except if Node itself
    // releases one of its own fds meanwhile (seen on Node 24): then the
    // waiting connection may be served early, as the second one.
    assert.ok(out.whileFull.served === 1 || out.whileFull.served === 2,
      `served ${out.whileFull.served} while out of fds`);
    assert.equal(out.pending, 'hello 2', 'the waiting connection is accepted once fds are free');
    assert.equal(out.after, 'hello 3', 'and later connections too');
    assert.equal(out.ended, 'ended', 'close() ends the accept loop without an error');
  });

  test('without an acceptError listener EMFILE becomes a process warning (UK_ACCEPT_ERROR) and serving resumes', async () => {
    const r = await runNetChild(script(false), CHILD_DEADLINE, 256);
    assertClean(r);
    const out = childResult<Out>(r);
    assert.ok(out, describeChild(r));
    if (out.backend === 'portable') return assertPortable(out, r);
    assert.ok(out.whileFull.warnings.includes('UK_ACCEPT_ERROR'), `warnings: ${out.whileFull.warnings}\n${describeChild(r)}`);
    assert.match(r.stderr, /EMFILE/);
    assert.equal(out.pending, 'hello 2');
    assert.equal(out.after, 'hello 3');
    assert.equal(out.ended, 'ended');
  });
});
