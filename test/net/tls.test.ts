/**
 * TLS over uringkit sockets, checked against OpenSSL's own tools: connectTls()
 * to `openssl s_server`, `openssl s_client` to a uringkit listener whose
 * sockets are wrapped in `new tls.TLSSocket(socketStream(s), { isServer })`,
 * and node:tls on both ends carrying 4 MiB each way. Certificate checks
 * (unknown CA, wrong name) fail as they should; timeouts and aborts clean up.
 *
 * The certificate is the committed fixture (test/helpers/tls-fixture.ts), so
 * only the two OpenSSL interoperability suites need the `openssl` command: the
 * test runner locates it or installs it (root); without it those suites fail
 * saying what to install (test/helpers/peers.ts); they are never skipped.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';

import { AbortError, Socket, TcpListener, TimeoutError } from '../../src/index.js';
import { socketStream } from '../../src/net/stream.js';
import { connectTls } from '../../src/net/tls.js';
import { waitUntil } from '../helpers/loop.js';
import { requirePeer } from '../helpers/peers.js';
import { tlsFixture } from '../helpers/tls-fixture.js';

const T = { timeout: 120_000 };
/** Every child process is killed after this long, whatever happens. */
const CHILD_LIMIT = 120_000;

const { keyFile, certFile, key, cert } = tlsFixture();
const children = new Set<ChildProcessWithoutNullStreams>();
/** The openssl command (set by requireOpenssl() in the interoperability suites' before hooks). */
let openssl: string | undefined;

async function requireOpenssl(): Promise<void> {
  openssl ??= await requirePeer('openssl');
}

function run(args: string[], stdin?: string): ChildProcessWithoutNullStreams {
  if (openssl === undefined) throw new Error('requireOpenssl() first');
  const child = spawn(openssl, args, { stdio: 'pipe', timeout: CHILD_LIMIT, killSignal: 'SIGKILL' });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => {});
  if (stdin !== undefined) child.stdin.write(stdin);
  return child;
}

function kill(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function freePort(): Promise<number> {
  const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
  const port = l.address().port;
  await l.close();
  return port;
}

/** Starts `openssl s_server` on 127.0.0.1 and waits until it accepts (retrying if the port was taken meanwhile). */
async function sServer(mode: string[]): Promise<{ port: number; child: ChildProcessWithoutNullStreams }> {
  let lastOutput = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = run(['s_server', '-accept', `127.0.0.1:${port}`, '-cert', certFile, '-key', keyFile, ...mode]);
    let out = '';
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 30_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (/^ACCEPT$/m.test(out)) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ready) return { port, child };
    lastOutput = out;
    await kill(child);
  }
  throw new Error(`openssl s_server did not start:\n${lastOutput}`);
}

after(async () => {
  await Promise.all([...children].map(kill));
});

/**
 * TCP sockets this process holds open to `port` on the peer (from
 * /proc/net/tcp{,6}, matched to our fds by inode). Precise where a plain fd
 * count is not: other tests' sockets may close at any moment.
 */
function openTo(port: number): number {
  const inodes = new Set<string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${name}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed in between
    }
  }
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (parseInt(f[2]!.split(':')[1]!, 16) === port && inodes.has(f[9]!)) n++;
    }
  }
  return n;
}

async function assertNoneOpenTo(port: number): Promise<void> {
  assert.ok(await waitUntil(() => openTo(port) === 0, 10_000), `${openTo(port)} socket(s) to port ${port} left open`);
}

function closed(s: { closed: boolean; once(e: 'close', f: () => void): unknown }): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

/** Reads from `t` until `pred(text)` holds. */
function readUntil(t: tls.TLSSocket, pred: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      if (pred(text)) {
        t.off('data', onData);
        t.off('error', reject);
        resolve(text);
      }
    };
    t.on('data', onData);
    t.once('error', reject);
    t.once('end', () => reject(new Error(`ended after ${JSON.stringify(text)}`)));
  });
}

describe('connectTls() to openssl s_server', () => {
  let server: { port: number; child: ChildProcessWithoutNullStreams };
  before(async () => {
    await requireOpenssl();
    server = await sServer(['-rev']); // answers each line reversed
  });
  after(async () => {
    if (server) await kill(server.child);
  });

  test("by name ('localhost' through DNS): handshake, certificate verified, data both ways", T, async () => {
    const t = await connectTls('localhost', server.port, { ca: cert, timeout: 30_000 });
    assert.equal(openTo(server.port), 1, 'openTo() sees the connection');
    assert.equal(t.authorized, true);
    assert.ok(['TLSv1.3', 'TLSv1.2'].includes(t.getProtocol() ?? ''), String(t.getProtocol()));
    assert.equal(t.getPeerCertificate().subject.CN, 'localhost');
    t.write('hello uringkit\n');
    const got = await readUntil(t, (s) => s.includes('\n'));
    assert.equal(got, 'tikgniru olleh\n');
    t.end();
    t.resume();
    await closed(t);
    await assertNoneOpenTo(server.port);
  });

  test('by IP literal: no SNI, the certificate is checked against the IP', T, async () => {
    const t = await connectTls('127.0.0.1', server.port, { ca: cert });
    assert.equal(t.authorized, true);
    t.write('abc\n');
    assert.equal(await readUntil(t, (s) => s.includes('\n')), 'cba\n');
    t.destroy();
    await closed(t);
  });

  test('an unknown CA is rejected; nothing is left open', T, async () => {
    await assert.rejects(connectTls('localhost', server.port), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    await assertNoneOpenTo(server.port);
  });

  test('a name the certificate does not cover is rejected', T, async () => {
    await assert.rejects(connectTls('127.0.0.1', server.port, { ca: cert, servername: 'wrong.example' }),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  test('rejectUnauthorized: false accepts the unknown CA (authorized false)', T, async () => {
    const t = await connectTls('localhost', server.port, { rejectUnauthorized: false });
    assert.equal(t.authorized, false);
    assert.equal(t.authorizationError, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    t.destroy();
    await closed(t);
  });
});

describe('openssl s_client to a uringkit TLS server', () => {
  before(requireOpenssl);
  test('s_client verifies the server and exchanges data', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const served: tls.TLSSocket[] = [];
    const loop = (async () => {
      for await (const s of l) {
        const t = new tls.TLSSocket(socketStream(s), { isServer: true, key, cert });
        served.push(t);
        t.on('error', () => {});
        let line = '';
        t.on('data', (d: Buffer) => {
          line += d.toString();
          if (line.includes('\n')) {
            t.end(`${line.toUpperCase()}served by ${t.getProtocol()}\n`); // reply, then close
          }
        });
      }
    })();
    const child = run(['s_client', '-connect', `127.0.0.1:${l.address().port}`, '-servername', 'localhost',
      '-CAfile', certFile, '-verify_return_error', '-verify_hostname', 'localhost', '-quiet'], 'hello from s_client\n');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => {
        child.once('exit', (c, s) => resolve([c, s]));
      });
      const info = `code=${code} signal=${signal}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
      assert.equal(signal, null, `s_client was killed\n${info}`);
      assert.match(stdout, /HELLO FROM S_CLIENT\nserved by TLSv1\.[23]\n/, info);
      assert.match(stderr, /verify return:1/, info);
      assert.equal(served.length, 1);
      await closed(served[0]!);
    } finally {
      await kill(child);
      await l.close();
      await loop;
    }
  });
});

describe('node:tls on both ends over uringkit sockets', () => {
  test('4 MiB each way through an echoing TLS server (SHA-256)', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const loop = (async () => {
      for await (const s of l) {
        const t = new tls.TLSSocket(socketStream(s), { isServer: true, key, cert });
        pipeline(t, t).catch(() => {});
      }
    })();
    try {
      const t = await connectTls('localhost', l.address().port, { ca: cert });
      const data = crypto.randomBytes(4 << 20);
      const got = crypto.createHash('sha256');
      let n = 0;
      const reading = new Promise<void>((resolve, reject) => {
        t.on('data', (d: Buffer) => {
          got.update(d);
          n += d.length;
        });
        t.once('end', resolve);
        t.once('error', reject);
      });
      for (let i = 0; i < data.length; i += 256 << 10) {
        if (!t.write(data.subarray(i, i + (256 << 10)))) await new Promise((r) => t.once('drain', r));
      }
      t.end();
      await reading;
      assert.equal(n, data.length);
      assert.equal(got.digest('hex'), crypto.createHash('sha256').update(data).digest('hex'));
      await closed(t);
    } finally {
      await l.close();
      await loop;
    }
  });
});

describe('connectTls() failures clean up', () => {
  test('a server that never answers the handshake: timeout rejects ETIMEDOUT and the connection is closed', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const acc = l.accept();
    try {
      const err = await connectTls('127.0.0.1', l.address().port, { ca: cert, timeout: 1000 })
        .then(() => assert.fail('connected'), (e: unknown) => e);
      assert.ok(err instanceof TimeoutError, String(err));
      const peer = await acc;
      // The peer reads the ClientHello, then the end of the stream: the client closed.
      const buf = Buffer.alloc(64 << 10);
      let n: number;
      let total = 0;
      while ((n = await peer.recv(buf)) > 0) total += n;
      assert.ok(total > 0, 'a ClientHello was sent');
      await peer.close();
      await assertNoneOpenTo(l.address().port);
    } finally {
      await l.close();
    }
  });

  test('signal aborts the handshake (AbortError, cause = reason)', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const acc = l.accept();
    try {
      const ac = new AbortController();
      const p = connectTls('127.0.0.1', l.address().port, { ca: cert, signal: ac.signal });
      const peer = await acc;
      // Abort once the ClientHello arrived: the handshake is under way.
      const buf = Buffer.alloc(64 << 10);
      assert.ok(await peer.recv(buf) > 0);
      ac.abort('enough');
      const err = await p.then(() => assert.fail('connected'), (e: unknown) => e);
      assert.ok(err instanceof AbortError, String(err));
      assert.equal((err as AbortError).cause, 'enough');
      while ((await peer.recv(buf)) > 0);
      await peer.close();
    } finally {
      await l.close();
    }
  });

  test('a refused connection rejects with the connect error', T, async () => {
    await assert.rejects(connectTls('127.0.0.1', 1, { ca: cert }), { code: 'ECONNREFUSED' });
  });

  test('the server closing during the handshake rejects (ECONNRESET-like), nothing left open', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const loop = (async () => {
      for await (const s of l) await s.close();
    })();
    try {
      const err = await connectTls('127.0.0.1', l.address().port, { ca: cert })
        .then(() => assert.fail('connected'), (e: unknown) => e as NodeJS.ErrnoException);
      assert.ok(['ECONNRESET', 'EPIPE'].includes(err.code ?? ''), String(err));
    } finally {
      await l.close();
      await loop;
    }
  });

  test('tls.connect({ socket: socketStream(s) }) works directly too', T, async () => {
    const l = TcpListener.bind({ host: '127.0.0.1', port: 0 });
    const acc = l.accept();
    try {
      const c = await Socket.connect(l.address());
      const srv = new tls.TLSSocket(socketStream(await acc), { isServer: true, key, cert });
      srv.on('data', (d: Buffer) => srv.end(d.toString().split('').reverse().join('')));
      const t = tls.connect({ socket: socketStream(c), servername: 'localhost', ca: cert });
      await new Promise<void>((resolve, reject) => {
        t.once('secureConnect', resolve);
        t.once('error', reject);
      });
      t.write('stressed');
      assert.equal(await readUntil(t, (s) => s.length >= 8), 'desserts');
      t.destroy();
      await Promise.all([closed(t), closed(srv)]);
    } finally {
      await l.close();
    }
  });
});
