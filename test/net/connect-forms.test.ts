/**
 * node:net's ways of naming a destination, on Socket.connect and connect():
 * `{ host, port }` (IP literal or name, host default 'localhost', port a
 * number or numeric string), `{ path }` for Unix sockets, connect(port, host);
 * every earlier form still works. Bad input is refused before any I/O with
 * node's codes (ERR_SOCKET_BAD_PORT, ERR_INVALID_ARG_TYPE, ERR_MISSING_ARGS)
 * and, for a wrong form, a message naming the accepted forms.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Ring, Socket, SocketAddress, TcpListener } from '../../src/index.js';
import { connect, type LookupFunction } from '../../src/net/connect.js';
import { parseDestination, validatePort } from '../../src/net/address.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitUntil } from '../helpers/loop.js';

const T = { timeout: 60_000 };
const ring = Ring.current();

let tcp: TcpListener;
let unix: TcpListener;
let dir: { dir: string; remove(): void };
let unixPath: string;
/** Every connection accepted on either listener, answered with one byte naming the listener ('t' or 'u'). */
const accepted: Socket[] = [];
let loops: Promise<void>[] = [];

function serve(l: TcpListener, tag: string): Promise<void> {
  return (async () => {
    for await (const s of l) {
      accepted.push(s);
      await s.write(tag).catch(() => {});
    }
  })();
}

before(() => {
  tcp = TcpListener.bind({ host: '127.0.0.1', port: 0 });
  dir = makeTempDir('uringkit-connect-forms-');
  unixPath = path.join(dir.dir, 's.sock');
  unix = TcpListener.bind({ path: unixPath });
  loops = [serve(tcp, 't'), serve(unix, 'u')];
});
after(async () => {
  await tcp.close();
  await unix.close();
  await Promise.allSettled(loops);
  await Promise.all(accepted.map((s) => s.close()));
  dir.remove();
  assert.ok(await waitUntil(() => ring.stats().inFlight === 0, 10_000), `inFlight ${ring.stats().inFlight}`);
});

/** Connects with `open`, checks the peer is the listener tagged `tag`, closes. */
async function reaches(open: () => Promise<Socket>, tag: string, label: string): Promise<void> {
  const s = await open();
  try {
    const b = Buffer.alloc(1);
    assert.equal(await s.recv(b, { timeout: 30_000 }), 1, label);
    assert.equal(b.toString(), tag, label);
  } finally {
    await s.close();
  }
}

/** A lookup that answers 127.0.0.1 for any name (no DNS in tests). */
const lookup: LookupFunction = (_host, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]);

describe('accepted forms', () => {
  test('Socket.connect: every form reaches its listener', T, async () => {
    const port = tcp.address().port;
    const forms: [string, () => Promise<Socket>, string][] = [
      ['SocketAddress', () => Socket.connect(tcp.address()), 't'],
      ['address string', () => Socket.connect(`127.0.0.1:${port}`), 't'],
      ['{ host, port }', () => Socket.connect({ host: '127.0.0.1', port }), 't'],
      ['{ host, port: string }', () => Socket.connect({ host: '127.0.0.1', port: String(port) }), 't'],
      ['{ host: [v4-mapped literal] }', () => Socket.connect({ host: '::ffff:127.0.0.1', port }), 't'],
      ['{ port } (host localhost)', () => Socket.connect({ port, family: 4 }), 't'],
      ['{ host: localhost, port }', () => Socket.connect({ host: 'localhost', port, family: 4 }), 't'],
      ['{ path }', () => Socket.connect({ path: unixPath }), 'u'],
      ['unix string', () => Socket.connect(unixPath), 'u'],
      ['SocketAddress.unix', () => Socket.connect(SocketAddress.unix(unixPath)), 'u'],
    ];
    for (const [label, open, tag] of forms) await reaches(open, tag, label);
  });

  test('connect(): host-first, port-first and object forms', T, async () => {
    const port = tcp.address().port;
    const forms: [string, () => Promise<Socket>, string][] = [
      ['(host, port)', () => connect('127.0.0.1', port), 't'],
      ['(host, port: string)', () => connect('127.0.0.1', String(port)), 't'],
      ['(name, port, { lookup })', () => connect('db.test', port, { lookup }), 't'],
      ['(port, host)', () => connect(port, '127.0.0.1'), 't'],
      ['(port) → localhost', () => connect(port, undefined, { family: 4 }), 't'],
      ['({ host, port })', () => connect({ host: '127.0.0.1', port }), 't'],
      ['({ host: name, port, lookup })', () => connect({ host: 'db.test', port, lookup, noDelay: true }), 't'],
      ['({ port, family }) → localhost', () => connect({ port, family: 4 }), 't'],
      ['({ path })', () => connect({ path: unixPath }), 'u'],
      ['({ path, timeout })', () => connect({ path: unixPath, timeout: 30_000 }), 'u'],
    ];
    for (const [label, open, tag] of forms) await reaches(open, tag, label);
  });

  test('a name through Socket.connect uses connect(): its options reach it (an aborted signal aborts)', T, async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(Socket.connect({ host: 'localhost', port: tcp.address().port }, { signal: ac.signal }),
      { name: 'AbortError' });
  });

  test('failures keep their address: { host, port } of a closed port is ECONNREFUSED with address and port', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const port = l.address().port;
    await l.close();
    for (const open of [() => Socket.connect({ host: '127.0.0.1', port }), () => connect({ host: '127.0.0.1', port })]) {
      await assert.rejects(open(), (e: Error & { code?: string; address?: string; port?: number }) => {
        assert.equal(e.code, 'ECONNREFUSED');
        assert.equal(e.address, '127.0.0.1');
        assert.equal(e.port, port);
        return true;
      });
    }
    await assert.rejects(Socket.connect({ path: path.join(dir.dir, 'none.sock') }), { code: 'ENOENT' });
    await assert.rejects(connect({ path: path.join(dir.dir, 'none.sock') }), { code: 'ENOENT' });
  });
});

describe('validation, as node:net', () => {
  test('validatePort: the same verdicts as node:net.connect for every value', () => {
    const values: unknown[] = [0, 80, 65535, '80', ' 80 ', '0x50', '1e3', -1, 65536, 1.5, NaN, Infinity, '', ' ', 'abc',
      '80a', true, null, {}, [], 80n];
    for (const v of values) {
      let nodeCode: string | undefined;
      try {
        const s = net.connect({ port: v as number, host: '127.0.0.1', lookup: () => {} } as net.NetConnectOpts);
        s.on('error', () => {});
        s.destroy();
      } catch (e) {
        nodeCode = (e as { code?: string }).code;
      }
      let ours: string | undefined;
      try {
        validatePort(v);
      } catch (e) {
        ours = (e as { code?: string }).code;
      }
      assert.equal(ours, nodeCode, `port ${String(v)}: node ${nodeCode}, ours ${ours}`);
    }
  });

  test('ERR_SOCKET_BAD_PORT is a RangeError with node\'s wording', () => {
    assert.throws(() => validatePort('abc'), (e: Error & { code?: string }) => e instanceof RangeError &&
      e.code === 'ERR_SOCKET_BAD_PORT' && e.message === "Port should be >= 0 and < 65536. Received type string ('abc').");
    assert.throws(() => validatePort(true, 'options.port'), (e: Error & { code?: string }) => e instanceof TypeError &&
      e.code === 'ERR_INVALID_ARG_TYPE' && /options\.port/.test(e.message));
  });

  test('Socket.connect: bad forms reject before any I/O, naming the accepted forms', T, async () => {
    const before = ring.stats().submitted;
    const cases: [unknown, string, RegExp][] = [
      [8080, 'ERR_INVALID_ARG_TYPE', /SocketAddress.*\{ host, port \} or \{ path \}/],
      [null, 'ERR_INVALID_ARG_TYPE', /\{ host, port \} or \{ path \}/],
      [undefined, 'ERR_INVALID_ARG_TYPE', /\{ host, port \} or \{ path \}/],
      ['localhost:80', 'ERR_INVALID_ARG_VALUE', /\{ host, port \}/],
      ['nonsense', 'ERR_INVALID_ARG_VALUE', /\{ host, port \} or \{ path \}/],
      [{}, 'ERR_MISSING_ARGS', /"address\.port" or "address\.path".*\{ host, port \} or \{ path \}/],
      [{ address: '127.0.0.1', port: undefined }, 'ERR_MISSING_ARGS', /'address' is not one/],
      [{ host: '127.0.0.1' }, 'ERR_MISSING_ARGS', /port/],
      [{ host: '127.0.0.1', port: 'http' }, 'ERR_SOCKET_BAD_PORT', /Port should be >= 0 and < 65536/],
      [{ host: '127.0.0.1', port: 65536 }, 'ERR_SOCKET_BAD_PORT', /Received type number \(65536\)/],
      [{ host: '127.0.0.1', port: -1 }, 'ERR_SOCKET_BAD_PORT', /Port should/],
      [{ host: '127.0.0.1', port: 1.5 }, 'ERR_SOCKET_BAD_PORT', /Port should/],
      [{ host: '127.0.0.1', port: true }, 'ERR_INVALID_ARG_TYPE', /address\.port/],
      [{ host: 123, port: 80 }, 'ERR_INVALID_ARG_TYPE', /address\.host/],
      [{ path: 123 }, 'ERR_INVALID_ARG_TYPE', /address\.path/],
      [{ path: 'x'.repeat(200) }, 'ERR_INVALID_ARG_VALUE', /107 bytes/],
    ];
    for (const [input, code, message] of cases) {
      await assert.rejects(Socket.connect(input as never), (e: Error & { code?: string }) => {
        assert.equal(e.code, code, `${JSON.stringify(input)}: ${e.message}`);
        assert.match(e.message, message, JSON.stringify(input));
        return true;
      });
    }
    // An unchanged form: a bad option is still refused.
    await assert.rejects(Socket.connect({ host: '127.0.0.1', port: 1 }, null as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(ring.stats().submitted, before, 'nothing reached the ring');
  });

  test('connect(): bad forms throw synchronously, naming the accepted forms', () => {
    const sync: [() => unknown, string, RegExp?][] = [
      [() => connect(true as never), 'ERR_INVALID_ARG_TYPE', /connect\(host, port\).*connect\(port, host\).*\{ path \}/],
      [() => connect(SocketAddress.ipv4('127.0.0.1', 1) as never), 'ERR_INVALID_ARG_TYPE', /Socket\.connect\(address\)/],
      [() => connect('x', 'http'), 'ERR_SOCKET_BAD_PORT'],
      [() => connect('x', 65536), 'ERR_SOCKET_BAD_PORT'],
      [() => connect('x', 1.5), 'ERR_SOCKET_BAD_PORT'],
      [() => connect('x', undefined as never), 'ERR_INVALID_ARG_TYPE', /"port"/],
      [() => connect(70000), 'ERR_SOCKET_BAD_PORT'],
      [() => connect(80, 5 as never), 'ERR_INVALID_ARG_TYPE', /"host"/],
      [() => connect({} as never), 'ERR_MISSING_ARGS', /"options\.port" or "options\.path"/],
      [() => connect({ host: 'x', port: 'abc' }), 'ERR_SOCKET_BAD_PORT'],
      [() => connect({ host: 'x', port: 80, family: 5 as 4 }), 'ERR_INVALID_ARG_VALUE'],
      [() => connect({ host: 'x', port: 80, timeout: -1 }), 'ERR_OUT_OF_RANGE'],
      [() => connect({ path: unixPath, timeout: -1 }), 'ERR_OUT_OF_RANGE'],
      [() => (connect as (...a: unknown[]) => unknown)({ host: 'x', port: 80 }, {}), 'ERR_INVALID_ARG_VALUE', /first object/],
    ];
    for (const [fn, code, message] of sync) {
      assert.throws(fn, (e: Error & { code?: string }) => {
        assert.equal(e.code, code, e.message);
        if (message !== undefined) assert.match(e.message, message);
        return true;
      });
    }
  });

  test('parseDestination: IP literals become addresses (scope kept), names stay names', () => {
    assert.deepEqual(parseDestination({ host: '[::1]', port: '8080' }, 'a'), { address: SocketAddress.parse('[::1]:8080') });
    assert.equal((parseDestination({ host: 'fe80::1%1', port: 80 }, 'a') as { address: SocketAddress }).address.scopeId, 1);
    assert.deepEqual(parseDestination({ host: 'example.test', port: 80 }, 'a'), { host: 'example.test', port: 80 });
    assert.deepEqual(parseDestination({ port: 80 }, 'a'), { host: 'localhost', port: 80 });
    assert.deepEqual(parseDestination({ host: '', port: 80 }, 'a'), { host: 'localhost', port: 80 }); // as node: '' is localhost
    // path wins over port, as in node
    assert.equal((parseDestination({ path: '/run/x.sock', port: 80 }, 'a') as { address: SocketAddress }).address.family, 'unix');
  });
});
