/**
 * Temporary directories that cannot outlive the test process: every directory
 * made here is removed when the process exits, even when the test that made it
 * failed before its own cleanup ran (and its own remove() stays the normal path).
 * scripts/test.mjs also gives each test file a TMPDIR of its own and reports
 * what a file left there.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();
let hooked = false;

function removeTree(dir: string): void {
  // Restore permissions that tests may have removed, so rm can descend.
  try {
    fs.chmodSync(dir, 0o700);
  } catch {
    // gone already
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A fresh directory under os.tmpdir(); removed at process exit unless removed earlier. */
export function makeTempDir(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(dir);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const d of made) removeTree(d);
    });
  }
  return {
    dir,
    remove: () => {
      made.delete(dir);
      removeTree(dir);
    },
  };
}
