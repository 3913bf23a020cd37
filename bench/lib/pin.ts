/**
 * Pins the benchmark process to one CPU by re-executing it under
 * `taskset -c <cpu>` (children such as the C reference inherit the mask).
 * CPU 1 by default (`UK_BENCH_CPU` overrides), or the last allowed CPU when
 * 1 is not available. Without taskset the run goes on unpinned, and the
 * report says so (env.pinned = false).
 */
import { spawnSync } from 'node:child_process';
import { cpusAllowed } from './report.js';

const ENV = 'UK_BENCH_PINNED';

function parseList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

/**
 * Returns a note when pinning was impossible, or undefined when this process
 * is (now) pinned. When it re-executes, this call does not return.
 */
export function pinSelf(): string | undefined {
  if (process.env[ENV] !== undefined) return undefined;
  const allowed = parseList(cpusAllowed());
  const want = Number(process.env['UK_BENCH_CPU'] ?? 1);
  const cpu = allowed.includes(want) ? want : allowed[allowed.length - 1];
  if (cpu === undefined) return 'could not read the CPU affinity; not pinned';
  if (allowed.length === 1) return undefined; // already confined to one CPU
  const r = spawnSync('taskset', ['-c', String(cpu), process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [ENV]: String(cpu) },
  });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    return 'taskset not found; not pinned to a CPU';
  }
  if (r.error !== undefined) return `taskset failed (${r.error.message}); not pinned`;
  process.exit(r.status ?? (r.signal ? 128 : 1));
}
