/**
 * Property-based fuzzing of every public function's argument handling
 * (fast-check). Each case calls one function with hostile arguments — wrong
 * types, NaN/±Infinity/-1/2**31/2**53, huge lengths and positions, zero-length,
 * detached, SharedArrayBuffer-backed and resizable views, dead fds, NUL bytes,
 * huge paths — in the promise or the callback form, with random signals and
 * deadlines. Property: the process survives; the call throws synchronously or
 * settles exactly once (never synchronously) with a value or a TypeError,
 * RangeError or an Error with a string `code`; and the ring stays healthy
 * (a nop completes, nothing stays in flight, no unhandled rejection, no fd leak).
 *
 * Every path that could be created lies inside a fresh temporary directory;
 * fds passed to closeFd are never open. UK_FUZZ_RUNS scales the run count
 * (default 5,000 per property, 20 properties: 100,000 cases).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import fc from 'fast-check';

import {
  Channel, copyFile, File, IoBuffer, Notifier, readFile, Ring, Socket, SocketAddress, TaskGroup, TcpListener,
  UdpSocket, writeFile,
} from '../../src/index.js';
import { sysOf } from '../../src/ops/socket.js';
import { makeFifo, type Fifo } from '../helpers/fifo.js';
import {
  anyValue, bufferArb, deadFd, describeValue, fdCount, fdSnapshot, fdsOpenedSince, makeOptions, numberish, optionsArb, pathArb, runCase, tmpDir,
  unacceptable, type OptionsSpec,
} from './hostile.js';

const RUNS = Math.max(1, Number(process.env.UK_FUZZ_RUNS ?? 5000));
const SEED = process.env.UK_FUZZ_SEED !== undefined ? Number(process.env.UK_FUZZ_SEED) : undefined;

type AnyFn = (...args: unknown[]) => unknown;

const ring = Ring.current();
const tmp = tmpDir('uringkit-fuzz-');
const dir = tmp.dir;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => {
  unhandled.push(e);
};

let totalCases = 0;
let devnull = -1;
let rwFile = -1;
let roFile = -1;
let fifo: Fifo;
let listener: TcpListener;
let client: Socket;
let server: Socket;
let udp: UdpSocket;
let loopbackSa: Buffer;
let loopbackSaLen = 0;
let baselineFds = 0;

/** An fd argument: never-open numbers and hostile values, or one of the suite's own fds. */
const fdArb = (): fc.Arbitrary<unknown> => fc.oneof(
  { weight: 2, arbitrary: deadFd },
  { weight: 3, arbitrary: fc.constantFrom('devnull', 'rw', 'ro', 'fifo', 'listener', 'client', 'server', 'udp') },
).map((v) => {
  switch (v) {
    case 'devnull': return devnull;
    case 'rw': return rwFile;
    case 'ro': return roFile;
    case 'fifo': return fifo.fd;
    case 'listener': return listener.fd;
    case 'client': return client.fd;
    case 'server': return server.fd;
    case 'udp': return udp.fd;
    default: return v;
  }
});

/** A sockaddr argument: loopback to our own UDP port, or garbage that cannot leave the machine. */
const sockaddrArb = fc.oneof(
  fc.constant('loopback'),
  fc.tuple(fc.constantFrom(0, 1, 0xffff, 46), fc.uint8Array({ minLength: 0, maxLength: 140 })).map(([fam, bytes]) => {
    const b = Buffer.alloc(Math.max(2, bytes.length));
    b.set(bytes.subarray(0, b.length));
    b.writeUInt16LE(fam, 0);
    return b;
  }),
  fc.constantFrom<unknown>(null, undefined, 'x', new Uint8Array(16), Buffer.alloc(0), {}),
).map((v) => (v === 'loopback' ? Buffer.from(loopbackSa) : v));

const cbArb = fc.boolean();
const P = { numRuns: RUNS, seed: SEED, endOnFailure: true, includeErrorInReport: true } as const;

function opts(spec: OptionsSpec): { options: unknown; afterCall: () => void } {
  return makeOptions(spec);
}

/** One case: `ring[method](...args, [options], [callback])`. */
async function ringCase(method: string, args: unknown[], spec: OptionsSpec | undefined, withCb: boolean,
  target: object = ring): Promise<void> {
  totalCases++;
  const o = spec ? opts(spec) : { options: undefined, afterCall: () => {} };
  const argv = spec && o.options !== undefined ? [...args, o.options] : [...args];
  if (withCb && spec && o.options === undefined) argv.push(undefined);
  const failure = await runCase(ring, method, (cb) => {
    const fn = (target as Record<string, AnyFn>)[method]!;
    return fn.apply(target, cb ? [...argv, cb] : argv);
  }, withCb, o.afterCall);
  if (failure) throw new Error(`${failure}\n  args: ${argv.map(describeValue).join(', ')}`);
}

/** One case of a plain function or constructor. */
async function fnCase(label: string, call: () => unknown, afterCall: () => void = () => {}): Promise<void> {
  totalCases++;
  const failure = await runCase(ring, label, () => call(), false, afterCall);
  if (failure) throw new Error(failure);
}

async function healthy(label: string): Promise<void> {
  await ring.nop();
  await ring.sleep(0);
  assert.equal(ring.stats().inFlight, 0, `${label}: operations left in flight`);
  assert.equal(ring.closed, false);
  assert.deepEqual(unhandled.map(describeValue), [], `${label}: unhandled rejections`);
  // Rings, files and sockets opened by cases are closed by them; allow a little slack for libuv's own fds.
  const fds = fdCount();
  assert.ok(fds <= baselineFds + 4, `${label}: fd count ${fds} > baseline ${baselineFds} + 4`);
}

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  devnull = fs.openSync('/dev/null', 'r+');
  rwFile = fs.openSync(path.join(dir, 'owned-rw.bin'), 'w+');
  fs.writeSync(rwFile, Buffer.alloc(8192, 0x5a));
  roFile = fs.openSync(path.join(dir, 'owned-rw.bin'), 'r');
  fifo = makeFifo();
  listener = TcpListener.bind({ host: '127.0.0.1', port: 0 });
  const accepted = listener.accept();
  client = await Socket.connect(listener.address());
  server = await accepted;
  udp = UdpSocket.bind();
  [loopbackSa, loopbackSaLen] = udp.address().toSockaddr(sysOf(ring));
  assert.ok(loopbackSaLen >= 16);
  fs.mkdirSync(path.join(dir, 'd'));
  fs.writeFileSync(path.join(dir, 'a'), 'hello');
  await ring.nop();
  baselineFds = fdCount();
});

after(async () => {
  process.off('unhandledRejection', onUnhandled);
  await client.close();
  await server.close();
  await listener.close();
  await udp.close();
  for (const fd of [devnull, rwFile, roFile]) fs.closeSync(fd);
  fifo.close();
  tmp.remove();
  console.log(`# fuzz: ${totalCases} cases, ring stats ${JSON.stringify(ring.stats())}`);
});

describe('fuzz: every public function survives hostile arguments', { timeout: 900_000 }, () => {
  test('Ring constructor options', async () => {
    const entries = fc.oneof(numberish, fc.integer({ min: 1, max: 64 }));
    await fc.assert(fc.asyncProperty(
      fc.record({
        shape: fc.constantFrom('object', 'object', 'object', 'none', 'null', 'string', 'number'),
        entries, cqEntries: fc.oneof(fc.constant(undefined), numberish), budget: fc.oneof(fc.constant(undefined), numberish),
        flush: fc.constantFrom<unknown>(undefined, 'microtask', 'immediate', 'never', 1, null),
        // Invalid loggers leak the ring (known bug, see the todo test below): only valid ones here.
        logger: fc.constantFrom<unknown>(undefined, { debug() {}, warn() {} }),
        backend: fc.constantFrom<unknown>(undefined, undefined, undefined, {}, null),
      }),
      async (r) => {
        // Valid but huge queues are legitimate (they cost megabytes each): keep them small.
        const clamp = (v: unknown): unknown => (typeof v === 'number' && Number.isInteger(v) && v > 4096 && v <= 2 ** 32 ? 4096 : v);
        const o = r.shape === 'object'
          ? { entries: clamp(r.entries), cqEntries: clamp(r.cqEntries), budget: r.budget, flush: r.flush, logger: r.logger, backend: r.backend }
          : r.shape === 'none' ? undefined : r.shape === 'null' ? null : r.shape === 'string' ? 'x' : 3;
        let made: Ring | undefined;
        await fnCase('new Ring', () => {
          made = new (Ring as unknown as new (o: unknown) => Ring)(o);
          return undefined;
        });
        if (made) {
          await made.nop();
          await made.close();
        }
      },
    ), P);
    await healthy('Ring constructor');
  });

  test('new Ring({ logger: <invalid> }) throws a coded error and leaks no io_uring fd', () => {
    const before = fdSnapshot();
    for (const logger of [{}, 5, 'x', { debug: 1 }]) {
      let err: unknown;
      try {
        new (Ring as unknown as new (o: unknown) => Ring)({ logger });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof TypeError, 'an invalid logger must be refused');
      assert.equal((err as { code?: unknown }).code, 'ERR_INVALID_ARG_TYPE');
    }
    assert.deepEqual(fdsOpenedSince(before), [], 'io_uring fds leaked');
  });

  test('nop / sleep', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('nop', 'sleep'), numberish, optionsArb, cbArb, async (m, ms, o, cb) => {
      await ringCase(m, m === 'nop' ? [] : [ms], o, cb);
    }), P);
    await healthy('nop/sleep');
  });

  test('poll / pollMultishot', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('poll', 'pollMultishot'), fdArb(), numberish, optionsArb, cbArb,
      async (m, fd, events, o, cb) => {
        await ringCase(m, [fd, events], o, cb);
      }), P);
    await healthy('poll');
  });

  test('closeFd / cancelAll / sendMessage(handle, message) / supports', async () => {
    const handleArb = fc.oneof(
      fc.constant('own'),
      fc.record({ id: numberish, pid: numberish, threadId: numberish }),
      fc.constantFrom<unknown>(null, undefined, 5, 'h', {}),
    );
    const msgArb = fc.oneof(fc.record({ tag: numberish, value: numberish }), anyValue);
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('closeFd', 'closeFd-fresh', 'cancelAll', 'sendMessage', 'supports'), deadFd, handleArb, msgArb, optionsArb,
      cbArb, async (m, fd, h, msg, o, cb) => {
        if (m === 'closeFd') await ringCase('closeFd', [fd], o, cb);
        else if (m === 'closeFd-fresh') {
          // A fresh fd: when closeFd fails (aborted, timed out) it is still open and ours to close.
          const fresh = fs.openSync(path.join(dir, 'a'), 'r');
          const ino = fs.fstatSync(fresh).ino;
          await ringCase('closeFd', [fresh], o, cb);
          try {
            if (fs.fstatSync(fresh).ino === ino) fs.closeSync(fresh);
          } catch {
            // closed by the ring
          }
        }
        else if (m === 'cancelAll') await ringCase('cancelAll', [], undefined, cb);
        else if (m === 'supports') await fnCase('supports', () => ring.supports(fd as number));
        else await ringCase('sendMessage', [h === 'own' ? ring.handle : h, msg], o, cb);
      }), P);
    // Drain what sendMessage() delivered to our own ring.
    const it = ring.messages();
    while (ring.messageStats().queued > 0) await it.next();
    await it.return!();
    await healthy('closeFd/cancelAll/sendMessage');
  });

  test('read / write', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('read', 'write', 'write-string'), fdArb(), bufferArb, optionsArb, cbArb,
      fc.string({ maxLength: 40 }), async (m, fd, buf, o, cb, s) => {
        await ringCase(m === 'write-string' ? 'write' : m, [fd, m === 'write-string' ? s : buf()], o, cb);
      }), P);
    await healthy('read/write');
  });

  test('readv / writev', async () => {
    const buffersArb = fc.oneof(
      { weight: 4, arbitrary: fc.array(bufferArb, { maxLength: 6 }).map((a) => () => a.map((f) => f())) },
      { weight: 1, arbitrary: fc.constantFrom(1025, 2000).map((n) => () => Array.from({ length: n }, () => Buffer.alloc(1))) },
      { weight: 1, arbitrary: anyValue.map((v) => () => v) },
      { weight: 1, arbitrary: fc.constant(() => [Buffer.alloc(4), 'str', null]) },
    );
    await fc.assert(fc.asyncProperty(fc.constantFrom('readv', 'writev'), fdArb(), buffersArb, optionsArb, cbArb,
      async (m, fd, bufs, o, cb) => {
        await ringCase(m, [fd, bufs()], o, cb);
      }), P);
    await healthy('readv/writev');
  });

  test('open', async () => {
    const flagsArb = fc.oneof(
      fc.constantFrom<unknown>('r', 'r+', 'w', 'wx', 'w+', 'a', 'ax+', 'as', 'rs+', 'bogus', '', 'R', undefined, null),
      numberish,
      fc.integer({ min: 0, max: 0o17777777 }),
    );
    const modeArb = fc.oneof(fc.constantFrom<unknown>(undefined, 0o644, '755', '0o7', 'rwx', 0o7777, 0o10000, -1), numberish);
    await fc.assert(fc.asyncProperty(pathArb(dir), flagsArb, modeArb, optionsArb, cbArb, async (p, f, mode, o, cb) => {
      await ringCase('open', [p, f, mode], o, cb);
    }), P);
    await healthy('open');
  });

  test('statx', async () => {
    const targetArb = fc.oneof(pathArb(dir), fdArb());
    await fc.assert(fc.asyncProperty(targetArb, optionsArb, cbArb, async (t, o, cb) => {
      await ringCase('statx', [t], o, cb);
    }), P);
    await healthy('statx');
  });

  test('fsync / fdatasync / fallocate / ftruncate / fadvise', async () => {
    // fallocate never gets the writable file (it would really reserve the space).
    const noAllocFd = fc.oneof(deadFd, fc.constantFrom('ro', 'devnull')).map((v) => (v === 'ro' ? roFile : v === 'devnull' ? devnull : v));
    await fc.assert(fc.asyncProperty(fc.constantFrom('fsync', 'fdatasync', 'fallocate', 'ftruncate', 'fadvise'), fdArb(),
      noAllocFd, numberish, numberish, numberish, optionsArb, cbArb, async (m, fd, safeFd, a, b, c, o, cb) => {
        switch (m) {
          case 'fsync': case 'fdatasync': await ringCase(m, [fd], o, cb); break;
          case 'fallocate': await ringCase(m, [safeFd, a, b], o, cb); break;
          case 'ftruncate': await ringCase(m, [fd === rwFile ? roFile : fd, a], o, cb); break;
          default: await ringCase(m, [fd, a, b, c], o, cb);
        }
      }), P);
    await healthy('fsync/...');
  });

  test('unlink / rmdir / mkdir', async () => {
    const mkdirArg = fc.oneof(fc.constant('opts'), numberish, fc.constantFrom<unknown>('700', 'x'));
    await fc.assert(fc.asyncProperty(fc.constantFrom('unlink', 'rmdir', 'mkdir', 'mkdir'), pathArb(dir), mkdirArg, optionsArb,
      cbArb, async (m, p, mArg, o, cb) => {
        if (m === 'mkdir' && mArg !== 'opts') await ringCase(m, [p, mArg], undefined, cb);
        else await ringCase(m, [p], o, cb);
      }), P);
    await healthy('unlink/rmdir/mkdir');
  });

  test('rename / symlink / link', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('rename', 'symlink', 'link'), pathArb(dir), pathArb(dir), optionsArb,
      cbArb, async (m, a, b, o, cb) => {
        await ringCase(m, [a, b], o, cb);
      }), P);
    await healthy('rename/symlink/link');
  });

  test('splice', async () => {
    const off = fc.oneof(fc.constant<unknown>(null), numberish);
    await fc.assert(fc.asyncProperty(fdArb(), off, fdArb(), off, numberish, optionsArb, cbArb,
      async (fi, oi, fo, oo, len, o, cb) => {
        await ringCase('splice', [fi, oi, fo, oo, len], o, cb);
      }), P);
    fifo.drain();
    await healthy('splice');
  });

  test('accept / connect / shutdown', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('accept', 'connect', 'shutdown', 'acceptMultishot'), fdArb(), sockaddrArb,
      numberish, optionsArb, cbArb, async (m, fd, sa, n, o, cb) => {
        // Never shut down the suite's own connection for writing both ways: other properties still use it.
        if (m === 'connect') await ringCase(m, [fd, sa, typeof n === 'number' && n > 140 ? loopbackSaLen : n], o, cb);
        else if (m === 'shutdown') await ringCase(m, [fd === client.fd || fd === server.fd ? udp.fd : fd, n], o, cb);
        else if (m === 'acceptMultishot') await ringCase(m, [fd], o, false);
        else await ringCase(m, [fd], o, cb);
      }), P);
    await healthy('accept/connect/shutdown');
  });

  test('send(fd) / recv / recvMultishot', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('send', 'recv', 'recvMultishot'), fdArb(), bufferArb, optionsArb, cbArb,
      async (m, fd, buf, o, cb) => {
        if (m === 'recvMultishot') await ringCase(m, [fd], o, false);
        else await ringCase(m, [fd, buf()], o, cb);
      }), P);
    await healthy('send/recv');
  });

  test('sendmsg / recvmsg', async () => {
    const outArb = fc.oneof(fc.constantFrom(128, 200).map((n) => () => Buffer.alloc(n)),
      fc.constantFrom<unknown>(null, undefined, 5).map((v) => () => v), fc.constant(() => Buffer.alloc(16)));
    await fc.assert(fc.asyncProperty(fc.constantFrom('sendmsg', 'recvmsg'), fdArb(), bufferArb, sockaddrArb, numberish,
      outArb, optionsArb, cbArb, async (m, fd, buf, sa, n, out, o, cb) => {
        if (m === 'sendmsg') {
          await ringCase(m, [fd, buf(), sa, sa === null ? n : typeof n === 'number' && n > 140 ? loopbackSaLen : n], o, cb);
        } else await ringCase(m, [fd, buf(), out()], o, cb);
      }), P);
    await healthy('sendmsg/recvmsg');
  });

  test('File: open, read, write, readAll, writeAll, stat, truncate, allocate', async () => {
    const methodArb = fc.constantFrom('read', 'write', 'readAll', 'writeAll', 'readv', 'stat', 'truncate', 'allocate', 'ctor');
    await fc.assert(fc.asyncProperty(pathArb(dir), fc.constantFrom<unknown>('r', 'r+', 'w+', 'a', 'zz', 5, undefined),
      methodArb, bufferArb, numberish, optionsArb, fc.boolean(), async (p, flags, m, buf, n, o, useOwned) => {
        if (m === 'ctor') {
          await fnCase('new File', () => {
            new (File as unknown as new (fd: unknown) => File)(n);
            return undefined;
          });
          return;
        }
        let file: File | undefined;
        if (useOwned) file = new File(fs.openSync(path.join(dir, 'owned-rw.bin'), 'r+'));
        else {
          await fnCase('File.open', () => ((File.open as AnyFn)(p, flags, undefined, undefined) as Promise<unknown>)
            .then((f: unknown) => {
              file = f as File;
            }));
        }
        if (!file) return;
        const o2 = opts(o);
        const f = file;
        const call = (): unknown => {
          switch (m) {
            case 'truncate': return f.truncate(Math.min(Number(n) || 0, 1 << 20), o2.options as undefined);
            case 'allocate': return f.allocate(n as number, 16, o2.options as undefined);
            case 'stat': return f.stat(o2.options as undefined);
            case 'readv': return f.readv([buf() as Uint8Array], o2.options as undefined);
            default: return (f[m as 'read'] as AnyFn).call(f, buf(), o2.options);
          }
        };
        // allocate only on the small owned file with length 16: bounded.
        await fnCase(`File.${m}`, call, o2.afterCall);
        await f.close();
        await fnCase('File.read after close', () => f.read(Buffer.alloc(4)));
      }), P);
    await healthy('File');
  });

  test('readFile / writeFile / copyFile', async () => {
    const dataArb = fc.oneof(bufferArb, fc.string({ maxLength: 30 }).map((s) => () => s));
    await fc.assert(fc.asyncProperty(fc.constantFrom('readFile', 'writeFile', 'copyFile'), pathArb(dir), pathArb(dir), dataArb,
      optionsArb, fc.constantFrom<unknown>(undefined, 'utf8', 'hex', 'nope', 5), async (m, p, q, data, o, enc) => {
        const o2 = opts(o);
        await fnCase(m, () => {
          switch (m) {
            case 'readFile': return (readFile as AnyFn)(p, enc === undefined ? o2.options : enc);
            case 'writeFile': return (writeFile as AnyFn)(p, data(), o2.options);
            default: return (copyFile as AnyFn)(p, q, o2.options);
          }
        }, o2.afterCall);
      }), P);
    await healthy('readFile/writeFile/copyFile');
  });

  test('SocketAddress: parse, ipv4, ipv6, unix, constructor, fromSockaddr', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom('127.0.0.1:80', '[::1]:8080', '[fe80::1%lo]:1', '[fe80::1%nope0]:1', 'unix:/tmp/x', '@abstract',
        '1.2.3.4:65536', '1.2.3.4:-1', '[::1]:99999999999', '::1', '[::1', 'unix:', '@', `@${'a'.repeat(200)}`,
        `/${'p'.repeat(200)}`, '/a\u0000b', '1.2.3.4:1e3', '0x7f.1:80', '[::ffff:1.2.3.4]:0'),
      anyValue,
    );
    const init = fc.record({
      family: fc.constantFrom<unknown>(undefined, 'ipv4', 'ipv6', 'unix', 'bogus', 4),
      address: fc.oneof(text, fc.constantFrom('127.0.0.1', '::1', '/tmp/s')),
      port: numberish, flowlabel: numberish,
      scopeId: fc.oneof(numberish, fc.constantFrom<unknown>('lo', 'eth0', 'x'.repeat(20), '../../etc', '1')),
    });
    await fc.assert(fc.asyncProperty(fc.constantFrom('parse', 'ipv4', 'ipv6', 'unix', 'ctor', 'fromSockaddr'), text, numberish,
      init, fc.uint8Array({ maxLength: 130 }), numberish, async (m, t, port, i, bytes, len) => {
        await fnCase(`SocketAddress.${m}`, () => {
          let a: SocketAddress;
          switch (m) {
            case 'parse': a = (SocketAddress.parse as AnyFn)(t) as SocketAddress; break;
            case 'ipv4': a = (SocketAddress.ipv4 as AnyFn)(t, port) as SocketAddress; break;
            case 'ipv6': a = (SocketAddress.ipv6 as AnyFn)(t, port, { scopeId: i.scopeId, flowlabel: i.flowlabel }) as SocketAddress; break;
            case 'unix': a = (SocketAddress.unix as AnyFn)(t) as SocketAddress; break;
            case 'ctor': a = new (SocketAddress as unknown as new (o: unknown) => SocketAddress)(i); break;
            default: a = (SocketAddress.fromSockaddr as AnyFn)(sysOf(ring), bytes, len) as SocketAddress;
          }
          // A successfully built address must format and convert without throwing.
          void a.toString();
          void JSON.stringify(a);
          a.toSockaddr(sysOf(ring));
          return undefined;
        });
      }), P);
    await healthy('SocketAddress');
  });

  test('Socket.connect / TcpListener.bind / UdpSocket.bind', async () => {
    const addrArb = fc.oneof(
      fc.constantFrom<unknown>('127.0.0.1:1', '127.0.0.1:0', '[::1]:1', 'unix:/nonexistent/uk.sock', '@uk-fuzz-none',
        '0.0.0.0:1', 'bogus', '', 5, null, undefined, {}),
      fc.constant('listener'),
    );
    const listenArb = fc.record({
      host: fc.constantFrom<unknown>(undefined, '127.0.0.1', '::1', 'localhost', 'example.com', 5, ''),
      port: fc.oneof(fc.constant<unknown>(0), numberish),
      backlog: fc.oneof(fc.constant<unknown>(undefined), numberish),
      path: fc.constantFrom<unknown>(undefined, undefined, undefined, '@uk-fuzz', 5, ''),
      reusePort: fc.constantFrom<unknown>(undefined, true, 'x'),
      ipv6Only: fc.constantFrom<unknown>(undefined, true),
    });
    const sockOpts = fc.record({
      noDelay: fc.constantFrom<unknown>(undefined, true, 1),
      keepAlive: fc.constantFrom<unknown>(undefined, true, false, { idle: -1 }, { idle: 1000, interval: NaN }, { count: 2 ** 31 }),
      sendBuffer: fc.oneof(fc.constant<unknown>(undefined), numberish),
      linger: fc.constantFrom<unknown>(undefined, false, 0, 5, -5),
      timeout: fc.constantFrom<unknown>(undefined, 0, 5, NaN),
    });
    await fc.assert(fc.asyncProperty(fc.constantFrom('connect', 'bind', 'udp'), addrArb, listenArb, sockOpts,
      async (m, a, l, so) => {
        const clean = (v: unknown): unknown => (typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 0xffffffff ? 1 << 16 : v);
        const so2 = { ...so, sendBuffer: clean(so.sendBuffer) };
        await fnCase(`net.${m}`, () => {
          switch (m) {
            case 'connect': return (Socket.connect as AnyFn)(a === 'listener' ? listener.address() : a, so2);
            // Ports other than 0 could collide with real services: bind them on loopback only.
            case 'bind': return (TcpListener.bind as AnyFn)({ ...l, host: l.port === 0 ? l.host : '127.0.0.1' });
            default: return (UdpSocket.bind as AnyFn)({ address: a === 'listener' ? '127.0.0.1:0' : a, sendBuffer: so2.sendBuffer });
          }
        });
      }), P);
    // Connections made to the suite's listener are queued in its backlog: accept and close them.
    for (;;) {
      const s = await listener.accept({ timeout: 1 }).catch(() => undefined);
      if (!s) break;
      await s.close();
    }
    await healthy('net');
  });

  test('IoBuffer', async () => {
    const safe = (v: unknown): unknown => (typeof v === 'number' && Number.isInteger(v) && v > 1 << 20 && v <= 2 ** 53 ? 1 << 20 : v);
    const step = fc.tuple(
      fc.constantFrom('writable', 'commit', 'readable', 'consume', 'clear', 'reserve', 'append', 'compact', 'indexOf',
        'toString', 'pin', 'unpin', 'read'),
      numberish, fc.oneof(bufferArb, fc.string({ maxLength: 20 }).map((s) => () => s)),
      fc.constantFrom<unknown>(undefined, 'utf8', 'hex', 'nope', 3),
    );
    await fc.assert(fc.asyncProperty(numberish, fc.oneof(fc.constant<unknown>(undefined), numberish), fc.array(step, { maxLength: 12 }),
      async (cap, max, steps) => {
        let b: IoBuffer | undefined;
        await fnCase('new IoBuffer', () => {
          b = new (IoBuffer as unknown as new (c: unknown, o: unknown) => IoBuffer)(safe(cap), { maxCapacity: safe(max) ?? 1 << 20 });
          return undefined;
        });
        if (!b) return;
        const buf = b;
        for (const [m, n, data, enc] of steps) {
          await fnCase(`IoBuffer.${m}`, () => {
            switch (m) {
              case 'commit': case 'consume': case 'reserve': return (buf[m] as AnyFn).call(buf, safe(n));
              case 'append': return (buf.append as AnyFn).call(buf, data(), enc);
              case 'indexOf': return (buf.indexOf as AnyFn).call(buf, n, enc);
              case 'toString': return (buf.toString as AnyFn).call(buf, enc);
              case 'read': return ring.read(devnull, buf.writable());
              default: return (buf[m as 'clear'] as AnyFn).call(buf);
            }
          });
        }
      }), P);
    await healthy('IoBuffer');
  });

  test('TaskGroup / Notifier / Channel', async () => {
    const taskArb = fc.constantFrom('resolve', 'reject', 'throw', 'value', 'sleep', 'abortable', 'not-a-function', 'coded');
    await fc.assert(fc.asyncProperty(fc.constantFrom('taskgroup', 'notifier', 'channel'),
      fc.constantFrom<unknown>(undefined, null, 5, {}, { signal: 'x' }, { signal: AbortSignal.abort() }, { ring: {} }),
      fc.array(taskArb, { maxLength: 6 }),
      fc.record({ timeout: fc.oneof(fc.constant<unknown>(undefined), numberish), cancel: fc.constantFrom<unknown>(undefined, true, 1) }),
      numberish, async (kind, o, tasks, join, cap) => {
        if (kind === 'notifier') {
          await fnCase('new Notifier', () => {
            const n = new (Notifier as unknown as new (o: unknown) => Notifier)(o);
            n.signal();
            const w = n.wait({ signal: AbortSignal.timeout(5) }).catch((e: unknown) => {
              const bad = unacceptable(e);
              if (bad) throw new Error(bad);
            });
            return w.finally(() => n.close());
          });
          return;
        }
        if (kind === 'channel') {
          // Valid capacities above 16 MiB are legitimate but allocate that much shared memory.
          const c = typeof cap === 'number' && Number.isInteger(cap) && cap > 1 << 24 && cap <= 2 ** 30 ? 1 << 24 : cap;
          await fnCase('new Channel', () => {
            const ch = new (Channel as unknown as new (o: unknown) => Channel)(o === undefined ? { capacity: c } : o);
            return ch.close();
          });
          return;
        }
        let g: TaskGroup | undefined;
        await fnCase('new TaskGroup', () => {
          g = new (TaskGroup as unknown as new (o: unknown) => TaskGroup)(o);
          return undefined;
        });
        if (!g) return;
        const group = g;
        for (const t of tasks) {
          await fnCase('TaskGroup.spawn', () => {
            let fn: unknown;
            switch (t) {
              case 'resolve': fn = async () => 1; break;
              case 'reject': fn = async () => Promise.reject(new TypeError('task failed')); break;
              case 'coded': fn = async () => Promise.reject(Object.assign(new Error('x'), { code: 'EX' })); break;
              case 'throw': fn = () => {
                throw new RangeError('sync');
              }; break;
              case 'value': fn = () => 'v'; break;
              case 'sleep': fn = (signal: AbortSignal) => ring.sleep(1, { signal }); break;
              case 'abortable': fn = (signal: AbortSignal) => ring.sleep(5, { signal, timeout: 2 }); break;
              default: fn = 42;
            }
            const p = (group.spawn as AnyFn).call(group, fn) as Promise<unknown>;
            // A task's own promise: its failure is the group's to report, not ours.
            p.catch(() => {});
            return undefined;
          });
        }
        await fnCase('TaskGroup.join', () => (group.join as AnyFn).call(group, join));
        // Deliver whatever failures are pending (an unjoined group would report them at GC).
        if (!group.closed) await group.join().catch(() => {});
      }), P);
    await healthy('TaskGroup/Notifier/Channel');
  });
});
