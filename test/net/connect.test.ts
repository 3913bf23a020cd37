/**
 * connect(host, port): IP literals without DNS, names through dns.lookup or
 * an injected `lookup`, Happy Eyeballs (interleaved families, a refused or
 * hanging address followed by a working one, the loser cancelled), the
 * AggregateError when everything fails, `timeout`, `signal`, `family`.
 *
 * A hanging address: a listener with backlog 0 whose one queue slot is taken
 * by a connection nobody accepts; the kernel then drops further SYNs, so a
 * connect to it stays pending (the client retransmits) until cancelled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { AbortError, Ring, Socket, TcpListener, TimeoutError } from '../../src/index.js';
import { connect, interleave, type LookupFunction } from '../../src/net/connect.js';
import { fdSnapshot, fdsOpenedSince } from '../helpers/fds.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { waitUntil } from '../helpers/loop.js';

const T = { timeout: 60_000 };
const HANG = { ...T, skip: skipUnlessIoUring('needs a listener whose full backlog leaves connects hanging (the portable backend accepts every connection)') };
const ring = Ring.current();

type Fake = { address: string; family: number }[];

/** A lookup answering `answers` and recording its calls. */
function fakeLookup(answers: Fake): LookupFunction & { calls: { host: string; options: object }[] } {
  const calls: { host: string; options: object }[] = [];
  const fn = ((host: string, options: object, cb: (err: Error | null, a?: Fake) => void) => {
    calls.push({ host, options: { ...options } });
    setImmediate(() => cb(null, answers));
  }) as LookupFunction & { calls: typeof calls };
  fn.calls = calls;
  return fn;
}

async function quiet(): Promise<void> {
  assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000), `inFlight ${ring.stats().inFlight}`);
}

/** Listens on 127.0.0.1 and on ::1 at the same port (retrying ports the other family has taken). */
function dualListeners(v4Backlog = 511): { v4: TcpListener; v6: TcpListener; port: number } {
  for (let i = 0; ; i++) {
    const v4 = TcpListener.bind({ host: '127.0.0.1', port: 0, backlog: v4Backlog });
    const port = v4.address().port;
    try {
      const v6 = TcpListener.bind({ host: '::1', port, ipv6Only: true });
      return { v4, v6, port };
    } catch (err) {
      void v4.close();
      if (i > 20) throw err;
    }
  }
}

/** Accepts (and keeps) every connection until closed. */
function acceptAll(l: TcpListener): { sockets: Socket[]; done: Promise<void> } {
  const sockets: Socket[] = [];
  const done = (async () => {
    for await (const s of l) sockets.push(s);
  })();
  return { sockets, done };
}

/** Makes a backlog-0 listener hang new connects: its one queue slot gets a connection nobody accepts. */
async function plug(l: TcpListener): Promise<Socket> {
  return Socket.connect(l.address());
}

let warm: Socket | undefined;
before(async () => {
  // Create the ring's resources once so fd counts compare like with like.
  const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
  const acc = l.accept();
  warm = await Socket.connect(l.address());
  await (await acc).close();
  await l.close();
});
after(async () => {
  await warm?.close();
});

describe('addresses', () => {
  test('interleave(): families alternate, starting with the first address\'s', () => {
    const a = (s: string) => ({ family: s.includes(':') ? 'ipv6' : 'ipv4', s });
    const order = interleave([a('::1'), a('::2'), a('::3'), a('1.1.1.1'), a('2.2.2.2')]).map((x) => x.s);
    assert.deepEqual(order, ['::1', '1.1.1.1', '::2', '2.2.2.2', '::3']);
    const order4 = interleave([a('1.1.1.1'), a('::1'), a('::2'), a('2.2.2.2')]).map((x) => x.s);
    assert.deepEqual(order4, ['1.1.1.1', '::1', '2.2.2.2', '::2']);
    assert.deepEqual(interleave([]), []);
  });

  test('IP literals connect without DNS: 127.0.0.1, ::1, [::1]', T, async () => {
    const { v4, v6, port } = dualListeners();
    const lookup = fakeLookup([]);
    try {
      for (const [host, expect] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['[::1]', '::1']] as const) {
        const acc = (host === '127.0.0.1' ? v4 : v6).accept();
        const s = await connect(host, port, { lookup });
        assert.equal(s.remoteAddress().address, expect);
        assert.equal(s.remoteAddress().port, port);
        await s.close();
        await (await acc).close();
      }
      assert.equal(lookup.calls.length, 0, 'no lookup for literals');
    } finally {
      await v4.close();
      await v6.close();
    }
  });

  test("'localhost' is resolved by dns.lookup", T, async () => {
    const { v4, v6, port } = dualListeners();
    const a4 = acceptAll(v4);
    const a6 = acceptAll(v6);
    try {
      const s = await connect('localhost', port);
      assert.ok(['127.0.0.1', '::1'].includes(s.remoteAddress().address));
      await s.close();
    } finally {
      await v4.close();
      await v6.close();
      await Promise.all([a4.done, a6.done]);
      for (const s of [...a4.sockets, ...a6.sockets]) await s.close();
    }
  });

  test('a name from the lookup option; the lookup gets { all: true, family }', T, async () => {
    const { v4, v6, port } = dualListeners();
    const lookup = fakeLookup([{ address: '::1', family: 6 }]);
    const acc = v6.accept();
    try {
      const s = await connect('db.example', port, { lookup });
      assert.equal(s.remoteAddress().address, '::1');
      assert.equal(lookup.calls.length, 1);
      assert.equal(lookup.calls[0]!.host, 'db.example');
      assert.deepEqual({ ...lookup.calls[0]!.options, hints: undefined }, { all: true, family: 0, hints: undefined });
      await s.close();
      await (await acc).close();
    } finally {
      await v4.close();
      await v6.close();
    }
  });

  test('a lookup may return (a promise of) the addresses instead of calling back', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const a = acceptAll(l);
    try {
      const s1 = await connect('x.test', l.address().port, { lookup: () => [{ address: '127.0.0.1', family: 4 }] });
      const s2 = await connect('x.test', l.address().port, { lookup: async () => [{ address: '127.0.0.1', family: 'IPv4' }] });
      assert.equal(s1.remoteAddress().address, '127.0.0.1');
      assert.equal(s2.remoteAddress().address, '127.0.0.1');
      await s1.close();
      await s2.close();
    } finally {
      await l.close();
      await a.done;
      for (const s of a.sockets) await s.close();
    }
  });

  test('family: 4 / 6 keeps only that family (and is passed to the lookup)', T, async () => {
    const { v4, v6, port } = dualListeners();
    const a4 = acceptAll(v4);
    const a6 = acceptAll(v6);
    const answers = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
    try {
      const l4 = fakeLookup(answers);
      const s4 = await connect('both.test', port, { lookup: l4, family: 4 });
      assert.equal(s4.remoteAddress().address, '127.0.0.1');
      assert.equal((l4.calls[0]!.options as { family: number }).family, 4);
      const s6 = await connect('both.test', port, { lookup: fakeLookup(answers), family: 6 });
      assert.equal(s6.remoteAddress().address, '::1');
      await s4.close();
      await s6.close();
      await assert.rejects(connect('v6only.test', port, { lookup: fakeLookup([{ address: '::1', family: 6 }]), family: 4 }),
        { code: 'ENOTFOUND' });
    } finally {
      await v4.close();
      await v6.close();
      await Promise.all([a4.done, a6.done]);
      for (const s of [...a4.sockets, ...a6.sockets]) await s.close();
    }
  });

  test('lookup errors and empty answers reject (ENOTFOUND)', T, async () => {
    const failing: LookupFunction = (_h, _o, cb) => {
      cb(Object.assign(new Error('getaddrinfo ENOTFOUND nope.test'), { code: 'ENOTFOUND' }));
    };
    await assert.rejects(connect('nope.test', 80, { lookup: failing }), { code: 'ENOTFOUND' });
    await assert.rejects(connect('empty.test', 80, { lookup: fakeLookup([]) }), { code: 'ENOTFOUND', hostname: 'empty.test' });
    await assert.rejects(connect('nonexistent.invalid', 80), { code: 'ENOTFOUND' }); // '.invalid' never resolves (RFC 6761)
  });

  test('argument checks', () => {
    assert.throws(() => connect(1 as unknown as string, 80), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => connect('', 80), { code: 'ERR_INVALID_ARG_VALUE' });
    // Ports are checked as node:net checks them (connect-forms.test.ts has the rest).
    assert.throws(() => connect('x', 65536), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => connect('x', 1.5), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => connect('x', true as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => connect('x', 80, { family: 5 as 4 }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => connect('x', 80, { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => connect('x', 80, { lookup: 'dns' as unknown as LookupFunction }), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe('Happy Eyeballs', () => {
  test('a refused address first, then a working one: the second wins (IPv6 refused, IPv4 listening)', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 }); // nothing on [::1] at this port
    const acc = l.accept();
    try {
      // A long delay: the next attempt must start because the first failed, not because time passed.
      const s = await connect('dual.test', l.address().port, {
        lookup: fakeLookup([{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }]),
        autoSelectFamilyAttemptDelay: 600_000,
      });
      assert.equal(s.remoteAddress().toString(), `127.0.0.1:${l.address().port}`);
      await s.close();
      await (await acc).close();
    } finally {
      await l.close();
    }
  });

  test('the other way round: IPv4 refused, IPv6 listening', T, async () => {
    const l = TcpListener.bind({ host: '::1', port: 0, ipv6Only: true });
    const acc = l.accept();
    try {
      const s = await connect('dual.test', l.address().port, {
        lookup: fakeLookup([{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]),
        autoSelectFamilyAttemptDelay: 600_000,
      });
      assert.equal(s.remoteAddress().address, '::1');
      await s.close();
      await (await acc).close();
    } finally {
      await l.close();
    }
  });

  test('a hanging first address: the next attempt starts after the delay and wins; the hanging one is cancelled', HANG, async () => {
    const { v4, v6, port } = dualListeners(0);
    const plugged = await plug(v4); // 127.0.0.1:port now drops SYNs
    const acc = v6.accept();
    const fds = fdSnapshot();
    try {
      const s = await connect('slow-v4.test', port, {
        lookup: fakeLookup([{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]),
        autoSelectFamilyAttemptDelay: 50,
      });
      assert.equal(s.remoteAddress().address, '::1');
      await quiet(); // the hanging connect was cancelled in the kernel
      assert.equal(fdsOpenedSince(fds).length, 2, 'only the winner and its accepted peer are open');
      await s.close();
      await (await acc).close();
    } finally {
      await plugged.close();
      await v4.close();
      await v6.close();
    }
  });

  test('autoSelectFamily: false tries only the first address (and hangs on it until the timeout)', HANG, async () => {
    const { v4, v6, port } = dualListeners(0);
    const plugged = await plug(v4);
    try {
      const err = await connect('slow-v4.test', port, {
        lookup: fakeLookup([{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]),
        autoSelectFamily: false, autoSelectFamilyAttemptDelay: 10, timeout: 300,
      }).then(() => assert.fail('connected'), (e: unknown) => e);
      assert.ok(err instanceof TimeoutError, String(err));
      await quiet();
    } finally {
      await plugged.close();
      await v4.close();
      await v6.close();
    }
  });

  test('all refused: an AggregateError in attempt (interleaved) order, code of the first', T, async () => {
    // Port 1 on loopback: nothing listens there.
    const lookup = fakeLookup([
      { address: '::1', family: 6 }, { address: '::1', family: 6 }, // a duplicate is tried once
      { address: '::ffff:127.0.0.3', family: 6 },
      { address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 },
    ]);
    const err = await connect('refused.test', 1, { lookup, autoSelectFamilyAttemptDelay: 600_000 })
      .then(() => assert.fail('connected'), (e: unknown) => e);
    assert.ok(err instanceof AggregateError, String(err));
    assert.equal((err as AggregateError & { code?: string }).code, 'ECONNREFUSED');
    const errors = err.errors as { code: string; address: string; port: number }[];
    assert.deepEqual(errors.map((e) => e.address), ['::1', '127.0.0.1', '::ffff:127.0.0.3', '127.0.0.2']);
    assert.ok(errors.every((e) => e.code === 'ECONNREFUSED' && e.port === 1));
    assert.match(err.message, /ECONNREFUSED/);
    await quiet();
  });

  test('one address refused: that error itself, not an AggregateError', T, async () => {
    const err = await connect('127.0.0.1', 1).then(() => assert.fail('connected'), (e: unknown) => e);
    assert.ok(!(err instanceof AggregateError));
    assert.equal((err as { code?: string }).code, 'ECONNREFUSED');
  });
});

describe('timeout and signal', () => {
  test('timeout bounds the whole operation: ETIMEDOUT, every attempt cancelled, no fd left', HANG, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, backlog: 0 });
    const l2 = TcpListener.bind({ host: '127.0.0.2', port: l.address().port, backlog: 0 });
    const p1 = await plug(l);
    const p2 = await plug(l2);
    const fds = fdSnapshot();
    try {
      const err = await connect('hang.test', l.address().port, {
        lookup: fakeLookup([{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }]),
        autoSelectFamilyAttemptDelay: 10, timeout: 300,
      }).then(() => assert.fail('connected'), (e: unknown) => e);
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal((err as TimeoutError).code, 'ETIMEDOUT');
      await quiet();
      assert.deepEqual(fdsOpenedSince(fds), []);
    } finally {
      await p1.close();
      await p2.close();
      await l.close();
      await l2.close();
    }
  });

  test('the timeout covers a lookup that never answers', T, async () => {
    const never: LookupFunction = () => undefined;
    await assert.rejects(connect('stuck.test', 80, { lookup: never, timeout: 50 }), { code: 'ETIMEDOUT' });
  });

  test('signal aborts all attempts (AbortError with the reason as cause); a pre-aborted signal rejects at once', HANG, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0, backlog: 0 });
    const p = await plug(l);
    const fds = fdSnapshot();
    try {
      const ac = new AbortController();
      const pending = connect('127.0.0.1', l.address().port, { signal: ac.signal });
      setTimeout(() => ac.abort('stop'), 20);
      const err = await pending.then(() => assert.fail('connected'), (e: unknown) => e);
      assert.ok(err instanceof AbortError, String(err));
      assert.equal((err as AbortError).cause, 'stop');
      await quiet();
      assert.deepEqual(fdsOpenedSince(fds), []);
      const pre = AbortSignal.abort('already');
      const err2 = await connect('127.0.0.1', l.address().port, { signal: pre }).then(() => assert.fail('connected'), (e: unknown) => e);
      assert.ok(err2 instanceof AbortError);
      assert.equal((err2 as AbortError).cause, 'already');
    } finally {
      await p.close();
      await l.close();
    }
  });

  test('socket options apply to the winner (noDelay, keepAlive)', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const acc = l.accept();
    try {
      const s = await connect('127.0.0.1', l.address().port, { noDelay: true, keepAlive: true });
      assert.equal(s.getOption(6, 1), 1, 'TCP_NODELAY');
      assert.equal(s.getOption(1, 9), 1, 'SO_KEEPALIVE');
      await s.close();
      await (await acc).close();
    } finally {
      await l.close();
    }
  });
});
