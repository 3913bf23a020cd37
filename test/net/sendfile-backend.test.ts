/**
 * sendFile on a backend whose fd numbers are its own (the mock): the pool's
 * pipes are closed through the backend (the ring's close while it is open,
 * the backend's synchronous close once it is closed), never by node:fs on a
 * number that may be a real fd of the process; and the pipe is taken when
 * sendFile is called (or ahead with reserveSendFilePipe), so EMFILE is known
 * before anything is written to the socket.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { describe, test } from 'node:test';

import { withMock, type MockBackend } from '../../src/testing.js';
import { Ring, Socket } from '../../src/index.js';
import {
  drainSendFilePipes, reserveSendFilePipe, sendFile, sendFilePoolSize, SendFilePipe,
} from '../../src/net/sendfile.js';

const EMFILE = os.constants.errno.EMFILE;
const EPIPE = os.constants.errno.EPIPE;

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Settles `p` within a bounded number of loop turns, or reports 'pending'. */
async function within<T>(p: Promise<T>, turns = 50): Promise<{ value?: T; error?: unknown } | 'pending'> {
  let out: { value?: T; error?: unknown } | undefined;
  p.then((value) => (out = { value }), (error: unknown) => (out = { error }));
  for (let i = 0; i < turns && out === undefined; i++) await tick();
  return out ?? 'pending';
}

/** Mock fds of kind 'pipe' now open. */
const mockPipes = (mock: MockBackend): number[] => mock.openFds().filter((e) => e.kind === 'pipe').map((e) => e.fd);

describe('sendFile on the mock: pipes are the backend\'s, closed through it', () => {
  test('a real fd of the process with the same number as a mock pipe stays open (ring close, drain, closed ring)',
    async (t) => {
      // Real fds of this process, consecutive, at the numbers the mock will hand out from fdBase.
      const reals: number[] = [];
      for (let i = 0; i < 32; i++) reals.push(fs.openSync('/dev/null', 'r'));
      const set = new Set(reals);
      const base = reals.find((fd) => [1, 2, 3, 4, 5, 6, 7].every((d) => set.has(fd + d)));
      assert.ok(base !== undefined, 'a run of 8 consecutive real fds');
      const devNull = fs.statSync('/dev/null');
      const checkReals = (when: string): void => {
        for (const fd of reals) {
          let st: fs.Stats;
          try {
            st = fs.fstatSync(fd);
          } catch (e) {
            assert.fail(`${when}: the process's fd ${fd} was closed (${String((e as Error).message)})`);
          }
          assert.equal(st.ino, devNull.ino, `${when}: fd ${fd} is still /dev/null`);
        }
      };
      try {
        await withMock(t, async (mock, ring) => {
          const file = mock.openPollable('file'); // the splice handler below stands in for the file
          const fd = mock.openPollable('socket');
          const sock = new Socket(fd, ring);
          let failOn = -1;
          mock.handle('splice', (req) => (req.mode === failOn ? -EPIPE : req.length));

          // A clean transfer: its pipe (two mock fds, in the range of the real ones) goes to the pool.
          assert.equal(await sendFile(sock, file, 0, 5000), 5000);
          assert.equal(sendFilePoolSize(ring), 1);
          const pipes = mockPipes(mock);
          assert.equal(pipes.length, 2);
          for (const p of pipes) assert.ok(set.has(p), `mock pipe fd ${p} has the number of a real fd`);

          // A failing transfer: its pipe is closed through the open ring (IORING_OP_CLOSE).
          failOn = fd;
          await assert.rejects(sendFile(sock, file, 0, 5000), { code: 'EPIPE' });
          failOn = -1;
          assert.equal(sendFilePoolSize(ring), 0, 'a pipe that saw an error is not pooled');
          for (let i = 0; i < 50 && mockPipes(mock).length > 0; i++) await tick();
          assert.deepEqual(mockPipes(mock), [], 'closed in the mock');
          assert.ok(mock.calls('closeFd').length >= 2, 'through the ring');
          checkReals('after a failed transfer');

          // drainSendFilePipes on an open ring: closed by the time it returns, in the mock.
          assert.equal(await sendFile(sock, file, 0, 5000), 5000);
          assert.equal(mockPipes(mock).length, 2);
          assert.equal(drainSendFilePipes(ring), 1);
          assert.deepEqual(mockPipes(mock), [], 'drained: closed in the mock');
          checkReals('after drainSendFilePipes');

          // A pipe pooled when the ring closes: drained afterwards through the backend, not the ring.
          const leased = reserveSendFilePipe(ring); // a pipe held by a lease across the close
          assert.equal(await sendFile(sock, file, 0, 5000), 5000); // a second one, pooled
          assert.equal(mockPipes(mock).length, 4);
          await sock.close();
          const closing = ring.close();
          let closed = false;
          void closing.then(() => (closed = true));
          for (let i = 0; i < 100 && !closed; i++) await mock.idle();
          await closing;
          assert.equal(drainSendFilePipes(ring), 1);
          leased.release(); // the ring is closed: the pipe is closed, not pooled
          assert.equal(sendFilePoolSize(ring), 0);
          assert.deepEqual(mockPipes(mock), [], 'closed in the mock after the ring closed');
          checkReals('after the ring closed');
          mock.closeFd(file);
        }, { fdBase: base, handlers: { splice: (req) => req.length, shutdown: () => 0 } });
        checkReals('after the test');
      } finally {
        for (const fd of reals) fs.closeSync(fd);
      }
    });
});

describe('sendFile takes its pipe before anything is queued (EMFILE before the response head)', () => {
  test('pipe() failing with EMFILE: sendFile rejects at once, before earlier writes finish; nothing spliced', (t) =>
    withMock(t, async (mock, ring) => {
      const fd = mock.openPollable('socket');
      const file = mock.openPollable('file');
      const sock = new Socket(fd, ring);
      const sent: Buffer[] = [];
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      mock.handle('send', async (req) => {
        sent.push(Buffer.from(req.buffer!));
        await gate;
        return req.length;
      });
      const sys = mock.sys as { pipe: (size: number) => [number, number] | number };
      const realPipe = sys.pipe;
      sys.pipe = () => -EMFILE;
      try {
        const head = Buffer.from('HTTP/1.1 200 OK\r\n\r\n');
        const w = sock.write(head);
        const out = await within(sendFile(sock, file, 0, 1 << 20));
        assert.notEqual(out, 'pending', 'sendFile settled while the earlier write was still in flight');
        const err = (out as { error?: NodeJS.ErrnoException }).error;
        assert.ok(err !== undefined, 'sendFile rejected');
        assert.equal(err.code, 'EMFILE');
        assert.equal(err.syscall, 'pipe');
        assert.equal(err.errno, -EMFILE);
        assert.equal(sock.pendingWrites, 1, 'only the earlier write is queued');
        // A server reserves first and learns of EMFILE before writing its head.
        assert.throws(() => reserveSendFilePipe(ring), { code: 'EMFILE', syscall: 'pipe' });
        open();
        assert.equal(await w, head.length);
        assert.equal(mock.calls('splice').length, 0, 'nothing was spliced');
        assert.deepEqual(Buffer.concat(sent), head, 'the socket got only the earlier write');
      } finally {
        sys.pipe = realPipe;
        open();
      }
      await sock.close();
      mock.closeFd(file);
    }, { handlers: { splice: (req) => req.length, shutdown: () => 0 } }));

  test('reserveSendFilePipe: the lease is consumed by sendFile, released otherwise; misuse is refused', (t) =>
    withMock(t, async (mock, ring) => {
      const fd = mock.openPollable('socket');
      const file = mock.openPollable('file');
      const sock = new Socket(fd, ring);
      mock.handle('send', (req) => req.length);

      const lease = reserveSendFilePipe(ring);
      assert.ok(lease instanceof SendFilePipe);
      assert.equal(lease.held, true);
      assert.equal(lease.ring, ring);
      assert.equal(mockPipes(mock).length, 2);
      void sock.write(Buffer.from('head'));
      assert.equal(await sendFile(sock, file, 0, 3000, { pipe: lease }), 3000);
      assert.equal(lease.held, false);
      assert.equal(sendFilePoolSize(ring), 1, 'the leased pipe went back to the pool');
      assert.equal(mockPipes(mock).length, 2, 'no second pipe was made');

      // A spent lease is refused (and nothing is sent).
      const splices = mock.calls('splice').length;
      await assert.rejects(sendFile(sock, file, 0, 10, { pipe: lease }), { code: 'ERR_INVALID_ARG_VALUE' });
      await assert.rejects(sendFile(sock, file, 0, 10, { pipe: {} as SendFilePipe }), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.equal(mock.calls('splice').length, splices);

      // A lease given to a call that fails on its arguments is spent, its pipe pooled.
      const l2 = reserveSendFilePipe(ring); // takes the pooled one
      assert.equal(sendFilePoolSize(ring), 0);
      await assert.rejects(sendFile(sock, file, -1, 10, { pipe: l2 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(l2.held, false);
      assert.equal(sendFilePoolSize(ring), 1);

      // release() gives it back (idempotent), as does Symbol.dispose.
      const l3 = reserveSendFilePipe(ring);
      l3.release();
      l3.release();
      assert.equal(sendFilePoolSize(ring), 1);
      const l4 = reserveSendFilePipe(ring);
      assert.equal(l4.held, true);
      l4[Symbol.dispose]();
      assert.equal(l4.held, false);
      assert.equal(sendFilePoolSize(ring), 1);

      // A lease of another ring is refused: its pipe belongs to that ring's backend.
      const other = new Ring({ backend: mock });
      try {
        const foreign = reserveSendFilePipe(other);
        await assert.rejects(sendFile(sock, file, 0, 10, { pipe: foreign }), { code: 'ERR_INVALID_ARG_VALUE' });
        assert.equal(sendFilePoolSize(other), 1, 'returned to its own ring\'s pool');
        assert.equal(drainSendFilePipes(other), 1);
      } finally {
        await other.close();
      }
      assert.throws(() => reserveSendFilePipe({} as Ring), { code: 'ERR_INVALID_ARG_TYPE' });
      const Ctor = SendFilePipe as unknown as new (...a: unknown[]) => SendFilePipe;
      assert.throws(() => new Ctor(Symbol('SendFilePipe'), ring, { r: 0, w: 1 }), TypeError, 'no lease of arbitrary fds');
      await sock.close();
      assert.equal(drainSendFilePipes(ring), 1);
      assert.deepEqual(mockPipes(mock), []);
      mock.closeFd(file);
    }, { handlers: { splice: (req) => req.length, shutdown: () => 0 } }));
});
