/** Helpers of the portable backend's tests. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LIB_URL, type ChildResult } from '../helpers/child.js';

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
 * Runs `code` as an ES module in a child with extra environment variables
 * (`__LIB__` is the library's URL, `__PORTABLE__` the portable backend's);
 * SIGKILLed after `timeoutMs`.
 */
export function runWithEnv(code: string, env: Record<string, string | undefined>, timeoutMs = 30_000):
  Promise<ChildResult> {
  const src = code.replaceAll('__LIB__', JSON.stringify(LIB_URL))
    .replaceAll('__PORTABLE__', JSON.stringify(new URL('../../src/backend/portable/index.js', import.meta.url).href))
    .replaceAll('__SELECT__', JSON.stringify(new URL('../../src/backend/select.js', import.meta.url).href));
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}
