/**
 * examples/http-hello.ts (the net benchmark's HTTP subject) as a black box:
 * a child process, driven over node:net with raw HTTP/1.1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../examples/http-hello.js', import.meta.url));

let child: ChildProcess;
let port = 0;

before(async () => {
  child = spawn(process.execPath, [script, '0', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`http-hello exited (${code}) before listening`)));
  });
});

after(async () => {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
});

/** Sends `request` (maybe in pieces), reads until `until(received)` or the server closes; returns what came and whether it closed. */
function exchange(pieces: string[], until: (s: string) => boolean): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`timed out; received so far: ${JSON.stringify(text)}`));
    }, 10_000);
    c.setEncoding('latin1');
    c.on('data', (d: string) => {
      text += d;
      if (until(text)) setTimeout(() => finish(false), 50); // would it close? give it a moment
    });
    c.on('end', () => finish(true));
    c.on('error', reject);
    c.once('connect', async () => {
      for (const p of pieces) {
        c.write(p);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });
}

const count = (s: string, what: string): number => s.split(what).length - 1;

describe('examples/http-hello', () => {
  test('GET: 200 with the 11-byte body and a Date header; the connection stays open', async () => {
    const r = await exchange(['GET / HTTP/1.1\r\nHost: x\r\n\r\n'], (s) => s.endsWith('hello world'));
    assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r.text, /\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    assert.match(r.text, /\r\nContent-Length: 11\r\n\r\nhello world$/);
    assert.equal(r.closed, false);
  });

  test('pipelined requests, one split across writes, are answered in order', async () => {
    const req = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await exchange([req + req + req.slice(0, 10), req.slice(10) + 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n' + req],
      (s) => count(s, 'HTTP/1.1 200 OK') === 5 && s.endsWith('hello world'));
    assert.equal(count(r.text, 'HTTP/1.1 200 OK'), 5);
    assert.equal(count(r.text, 'hello world'), 4, 'HEAD has no body');
    assert.equal(r.closed, false);
  });

  test('Connection: close and HTTP/1.0 close after the response; HTTP/1.0 keep-alive does not', async () => {
    let r = await exchange(['GET / HTTP/1.1\r\nHost: x\r\nconnection: Close\r\n\r\n'], () => false);
    assert.ok(r.closed);
    assert.match(r.text, /\r\nConnection: close\r\n\r\nhello world$/);
    r = await exchange(['GET / HTTP/1.0\r\n\r\n'], () => false);
    assert.ok(r.closed);
    assert.match(r.text, /hello world$/);
    r = await exchange(['GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], (s) => s.endsWith('hello world'));
    assert.equal(r.closed, false);
  });

  test('other methods: 405 and close; garbage: 400; an endless head: 431', async () => {
    let r = await exchange(['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'], () => false);
    assert.ok(r.closed);
    assert.match(r.text, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    r = await exchange(['\x01\x02\r\n\r\n'], () => false);
    assert.ok(r.closed);
    assert.match(r.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    r = await exchange(['GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(4000)], () => false);
    assert.ok(r.closed);
    assert.match(r.text, /^HTTP\/1\.1 431 /);
  });
});
