/** Helpers of the portable backend's tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import assert from 'node:assert/strict';
import { after, afterEach } from 'node:test';

import { Ring } from '../../src/index.js';
import { portableBackend } from '../../src/backend/portable/index.js';
import { runModule, type ChildResult } from '../helpers/child.js';

/**
 * A Ring on the process's portable backend for one test file, closed after
 * it; after every test, no virtual fd may be left open and nothing in flight.
 */
export function portableRing(): { backend: ReturnType<typeof portableBackend>; ring: Ring } {
  const backend = portableBackend();
  const ring = new Ring({ backend });
  after(() => ring.close());
  afterEach(async () => {
    // Every test closes what it opened: no virtual fd may outlive it.
    for (let i = 0; i < 100 && backend.openHandles().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(backend.openHandles(), []);
    assert.equal(ring.stats().inFlight, 0);
  });
  return { backend, ring };
}

/** A temp directory with a writer and a remover. */
export function tempDir(): { dir: string; write(name: string, data: string | Uint8Array): string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-portable-'));
  return {
    dir,
    write: (name, data) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, data);
      return p;
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * runModule (test/helpers/child.ts) with extra environment variables for the
 * child (undefined removes one): the child inherits process.env when it is
 * spawned, which runModule does synchronously, so they are set just around it.
 */
export function runWithEnv(code: string, env: Record<string, string | undefined>, timeoutMs = 30_000):
  Promise<ChildResult> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return runModule(code, timeoutMs);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
