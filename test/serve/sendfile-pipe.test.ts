/**
 * uringkit serve when a big body's sendFile pipe cannot be made (EMFILE):
 * the pipe is reserved before the response head is written, so the answer
 * is a whole 503 with Retry-After and Connection: close, never a head
 * followed by a fallback. With one more free descriptor the same request is a
 * byte-exact 200.
 *
 * The server runs in a child (child-squeeze.ts) whose descriptor table is
 * filled to leave exactly `free` descriptors once the client's connection is
 * accepted. With the cache off a big file's request then needs: one to
 * resolve the path (opened and closed again), one for the file, two for the
 * pipe. So free = 3 is enough; free = 1 or 2 fails at the pipe; free = 0
 * fails at the path.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { makeFixture, RawClient, requestText, within, type Fixture } from './helpers.js';

const CHILD = fileURLToPath(new URL('./child-squeeze.js', import.meta.url));
const T = {
  timeout: 120_000,
  skip: skipUnlessIoUring("needs sendFile's kernel pipe (two descriptors); the portable backend's pipe is in memory and takes none"),
};

let fx: Fixture;
let child: ChildProcess;
let out = '';
let err = '';
let port = 0;
let accepted = 0;

async function waitFor(re: RegExp, label: string): Promise<RegExpExecArray> {
  return within((async () => {
    for (;;) {
      const m = re.exec(out);
      if (m !== null) {
        out = out.slice(m.index + m[0].length);
        return m;
      }
      if (child.exitCode !== null) throw new Error(`the child exited: ${err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  })(), 30_000, label);
}

before(async () => {
  fx = makeFixture(2 * 1024 * 1024);
  child = spawn(process.execPath, [CHILD, fx.root, JSON.stringify({ cacheEntries: 0, cacheBytes: 0 })],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  port = Number((await waitFor(/ready (\d+)\n/, 'the child server'))[1]);
});

after(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    const closed = await waitFor(/closed (.*) (\[.*\])\n/, 'the child closing');
    assert.deepEqual(JSON.parse(closed[2]!), [], 'server-side errors');
  }
  fx.remove();
});

/** GET `name` on a fresh connection with exactly `free` descriptors left in the server once it is accepted. */
async function getSqueezed(name: string, free: number): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const c = await RawClient.connect(port);
  accepted++;
  try {
    child.stdin!.write(`squeeze ${accepted} ${free}\n`);
    await waitFor(new RegExp(`squeezed ${free}\\n`), 'the squeeze');
    c.write(requestText('GET', `/${name}`));
    return await within(c.response(), 60_000, `GET /${name} with ${free} free`);
  } finally {
    c.destroy();
    child.stdin!.write('release\n');
    await waitFor(/released\n/, 'the release');
  }
}

for (const name of ['big.bin', 'mid.bin']) {
  test(`${name}: no descriptor for the pipe → 503 + Retry-After before any head; one more → byte-exact 200`, T, async () => {
    for (const free of [0, 1, 2]) {
      const r = await getSqueezed(name, free);
      assert.equal(r.status, 503, `${free} free: ${r.status}`);
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(r.headers.connection, 'close');
      assert.ok(!r.headers['content-type']?.startsWith('application/octet-stream'), 'no head of the file was sent');
    }
    const r = await getSqueezed(name, 3);
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers['content-length']), fx.files[name]!.length);
    assert.ok(r.body.equals(fx.files[name]!), 'byte-exact');
  });
}
