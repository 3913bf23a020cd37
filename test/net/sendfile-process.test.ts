/**
 * sendFile when the process is out of fds (a child with RLIMIT_NOFILE 256,
 * on the io_uring backend): pipe(2) fails, reserveSendFilePipe throws and
 * sendFile rejects with the EMFILE SystemError, nothing reaches the socket,
 * and once fds are free sendFile works again. (The ordering — EMFILE before
 * earlier writes finish — is proved on the mock in sendfile-backend.test.ts.)
 *
 * On the portable backend (docs/portable.md) sendFile's pipe is in memory and
 * takes no fd: out of fds, reserveSendFilePipe and sendFile both work, and
 * the peer gets both transfers, in order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { describeChild } from '../helpers/child.js';
import { childResult, runNetChild } from '../helpers/net-util.js';

const CHILD_DEADLINE = 60_000;

describe('sendFile out of fds', () => {
  test('EMFILE: reserveSendFilePipe throws, sendFile rejects, nothing sent; works again once fds are free', async () => {
    const r = await runNetChild(`
      import fs from 'node:fs';
      import { File, Ring, Socket, SystemError, TcpListener } from __LIB__;
      const sf = await import(new URL('./net/sendfile.js', __LIB__).href);
      const l = TcpListener.bind();
      const accepted = l.accept();
      const c = await Socket.connect(l.address());
      const s = await accepted;
      const f = await File.open(process.execPath, 'r');
      const fillers = [];
      for (;;) {
        try { fillers.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code === 'EMFILE') break; throw e; }
      }
      fs.closeSync(fillers.pop()); // one fd free: a pipe needs two
      const describe = (e) => ({ code: e.code, errno: e.errno, syscall: e.syscall, systemError: e instanceof SystemError });
      let reserve = 'no error';
      try { sf.reserveSendFilePipe(s.ring); } catch (e) { reserve = describe(e); }
      const send = await s.sendFile(f, 0, 100000).then((n) => 'sent ' + n, describe);
      for (const fd of fillers) fs.closeSync(fd);
      const later = await s.sendFile(f, 0, 1000);
      await s.close();
      let got = 0;
      const b = Buffer.alloc(65536);
      for (let n; (n = await c.recv(b)) > 0;) got += n;
      await c.close();
      await f.close();
      await l.close();
      sf.drainSendFilePipes(s.ring);
      const backend = Ring.current().info.backend;
      console.log(JSON.stringify({ result: { backend, fillers: fillers.length + 1, reserve, send, later, got } }));
    `, CHILD_DEADLINE, 256);
    assert.equal(r.killed, false, `the child did not finish within ${CHILD_DEADLINE} ms\n${describeChild(r)}`);
    assert.equal(r.code, 0, describeChild(r));
    const out = childResult<{ backend: string; fillers: number; reserve: unknown; send: unknown; later: number; got: number }>(r);
    assert.ok(out, describeChild(r));
    assert.ok(out.fillers > 10, `fds were exhausted by the filler loop (${out.fillers})`);
    if (out.backend === 'portable') {
      assert.equal(out.reserve, 'no error', 'an in-memory pipe needs no fd');
      assert.equal(out.send, 'sent 100000');
      assert.equal(out.later, 1000);
      assert.equal(out.got, 101_000, 'the peer got both transfers');
      return;
    }
    const emfile = { code: 'EMFILE', errno: -24, syscall: 'pipe', systemError: true };
    assert.deepEqual(out.reserve, emfile, 'reserveSendFilePipe throws the SystemError of pipe(2)');
    assert.deepEqual(out.send, emfile, 'sendFile rejects with it');
    assert.equal(out.later, 1000, 'sendFile works once fds are free');
    assert.equal(out.got, 1000, 'the peer got only the later transfer: nothing of the failed one');
  });
});
