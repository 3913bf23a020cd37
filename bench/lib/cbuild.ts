/**
 * Builds a small C program (a benchmark's reference) with `cc -O2` into
 * bench/.build/ (gitignored), only when the source is newer than the binary.
 * `CC` overrides the compiler. Never throws: a missing compiler or a failed
 * build comes back as { ok: false, reason } for the caller to report.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/bench/lib/). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const buildDir = path.join(repoRoot, 'bench', '.build');

export type CBuild = { ok: true; path: string; rebuilt: boolean } | { ok: false; reason: string };

function mtime(p: string): number | undefined {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * @param source path relative to the repo root, e.g. 'bench/nop/c-reference.c'
 * @param name   output binary name inside bench/.build/
 */
export function buildC(source: string, name: string, extraFlags: readonly string[] = []): CBuild {
  const src = path.join(repoRoot, source);
  const out = path.join(buildDir, name);
  const srcTime = mtime(src);
  if (srcTime === undefined) return { ok: false, reason: `C source ${source} not found` };
  const outTime = mtime(out);
  if (outTime !== undefined && outTime >= srcTime) return { ok: true, path: out, rebuilt: false };

  const cc = process.env['CC'] || 'cc';
  mkdirSync(buildDir, { recursive: true });
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', out, src, ...extraFlags], { encoding: 'utf8' });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return {
      ok: false,
      reason: code === 'ENOENT'
        ? `no C compiler found ('${cc}' is not on PATH; install gcc/clang or set CC) - cannot build ${source}`
        : `running ${cc} failed: ${r.error.message}`,
    };
  }
  if (r.status !== 0) {
    return { ok: false, reason: `${cc} -O2 ${source} failed (exit ${r.status}): ${(r.stderr || '').trim().slice(0, 2000)}` };
  }
  return { ok: true, path: out, rebuilt: true };
}
