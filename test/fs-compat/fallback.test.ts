/**
 * Where io_uring cannot be used (ring setup refused), uringkit/fs keeps
 * working: every call goes to node:fs/promises.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

test('io_uring unavailable: uringkit/fs delegates every call to node:fs/promises', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-fscompat-fallback-'));
  try {
    const w = new Worker(new URL('./fallback-worker.js', import.meta.url), { workerData: { dir } });
    const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`worker exited with ${code} before answering`)));
    });
    await w.terminate();
    assert.deepEqual(result, {
      ring: 'ERR_IO_URING_UNAVAILABLE',
      readFile: 'fallback works',
      size: 14,
      read: 8,
      unlinkError: "ENOENT: no such file or directory, unlink '<dir>/missing'",
      stream: 'fallback works',
    });
    assert.equal(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'fallback works', 'written to the real disk');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
