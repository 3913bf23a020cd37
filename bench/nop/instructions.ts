/**
 * Instructions per operation of nop-batch32-callback, counted under
 * valgrind's callgrind: a figure the machine's load does not move, for
 * A/B comparisons of the ring's hot path (wall-time ns/op on a shared VM
 * moves by ±20 %). See bench/nop/README.md for how to read it.
 *
 *   node dist/bench/nop/instructions.js [--ops N] [--warmup N] [--runs R] [--root DIR]
 *
 * Runs the workload (bench/nop/workloads.ts, the suite's own code) under
 * callgrind twice, for 0 and for N measured operations after the same
 * warm-up, and prints (Ir(N) - Ir(0)) / N: start-up, module loading and the
 * warm-up cancel out. V8 runs with --single-threaded (no concurrent JIT:
 * compilation happens at the same point in every run, not when a loaded
 * machine lets the compiler thread finish) and fixed hash and random seeds
 * (the hash seed's set-up otherwise varies by millions of instructions).
 * `--root DIR` measures the library built in another checkout (its
 * dist/src/index.js) with this checkout's workload, so two trees run the
 * very same program. Wrap the run in `flock /tmp/uk-bench.lock` on a shared
 * machine: it is CPU-bound for about a minute.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Ring } from '../../src/index.js';
import { batch32Callback } from './workloads.js';

const V8_FLAGS = ['--single-threaded', '--hash-seed=1', '--random-seed=1'];

/** The child: warm-up, then `ops` measured operations, on the library under `root` (or this checkout's). */
async function child(ops: number, warmup: number, root: string | undefined): Promise<void> {
  const url = root === undefined
    ? new URL('../../src/index.js', import.meta.url).href
    : pathToFileURL(path.resolve(root, 'dist/src/index.js')).href;
  const lib = (await import(url)) as { Ring: typeof Ring };
  const ring = lib.Ring.current();
  const run = batch32Callback(ring);
  if (warmup > 0) await run(warmup);
  if (ops > 0) await run(ops);
  await ring.close();
}

/** Total instructions (callgrind's Ir) of one child run. */
function countRun(ops: number, warmup: number, root: string | undefined): number {
  const script = fileURLToPath(import.meta.url);
  const args = ['--tool=callgrind', '--smc-check=all-non-file', '--callgrind-out-file=/dev/null',
    process.execPath, ...V8_FLAGS, script, '--child', String(ops), String(warmup), ...(root === undefined ? [] : [root])];
  const r = spawnSync('valgrind', args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error !== undefined) throw new Error(`valgrind could not run: ${r.error.message}`);
  const m = /Collected : (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`valgrind run failed (status ${r.status}):\n${r.stderr}`);
  return Number(m[1]);
}

function option(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} needs a positive integer, got ${argv[i + 1]}`);
  return v;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === '--child') {
    await child(Number(argv[1]), Number(argv[2]), argv[3]);
    return;
  }
  const ops = option(argv, '--ops', 768_000);
  const warmup = option(argv, '--warmup', 256_000);
  const runs = option(argv, '--runs', 1);
  const ri = argv.indexOf('--root');
  const root = ri < 0 ? undefined : argv[ri + 1];
  const label = root ?? fileURLToPath(new URL('../../..', import.meta.url));
  const perOp: number[] = [];
  for (let i = 0; i < runs; i++) {
    const base = countRun(0, warmup, root);
    const full = countRun(ops, warmup, root);
    perOp.push((full - base) / ops);
    process.stderr.write(`  run ${i + 1}: Ir(0) ${base}, Ir(${ops}) ${full}\n`);
  }
  const shown = perOp.map((x) => x.toFixed(1)).join(' ');
  console.log(`nop-batch32-callback instructions/op (${label}, ${ops} ops after ${warmup}): ${shown}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
