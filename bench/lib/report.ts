/**
 * Shared result format for every bench suite.
 *
 * Every figure is reported next to a peer measured in the same run, as a
 * ratio where > 1 means uringkit is better:
 *   cost units (ns/op, µs/wake, ms, …)  ratio = peer / uringkit
 *   rate units (ops/s, MB/s, req/s, …)  ratio = uringkit / peer
 * A peer that could not be measured is reported with value null and a note,
 * never silently dropped.
 *
 * `--json` output is exactly one JSON object on stdout (see bench/README.md);
 * progress goes to stderr.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

// ---- CLI options -----------------------------------------------------------

export interface BenchOptions {
  json: boolean;
  /** Measured repeats per case (median reported). */
  repeats: number;
  /** Target wall time of one repeat, ms. */
  repeatMs: number;
  /** Warm-up repeats (not reported). */
  warmup: number;
}

/** Parses `[--json] [--repeats N] [--repeat-ms MS] [--warmup N]`; unknown flags are errors. */
export function parseOptions(argv: readonly string[], defaults: Partial<BenchOptions> = {}): BenchOptions {
  const o: BenchOptions = { json: false, repeats: 5, repeatMs: 400, warmup: 1, ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (name: string): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a non-negative number`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--repeats') o.repeats = Math.max(1, Math.floor(num(a)));
    else if (a === '--repeat-ms') o.repeatMs = Math.max(1, num(a));
    else if (a === '--warmup') o.warmup = Math.floor(num(a));
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** Progress lines: stderr, so `--json` stdout stays one object. */
export function progress(msg: string): void {
  process.stderr.write(`  ${msg}\n`);
}

// ---- statistics and timing ---------------------------------------------------

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const nowNs = (): number => Number(process.hrtime.bigint());

/**
 * Finds an operation count whose run takes about `targetMs`.
 * `run(n)` performs n operations; it is called with growing n (this is also
 * the warm-up of the JIT).
 */
export async function calibrate(run: (n: number) => Promise<void> | void, targetMs: number, start = 64): Promise<number> {
  let n = start;
  for (;;) {
    const t0 = nowNs();
    await run(n);
    const ms = (nowNs() - t0) / 1e6;
    if (ms >= targetMs / 8 || n >= 2 ** 30) {
      return Math.max(1, Math.round((n * targetMs) / Math.max(ms, 1e-3)));
    }
    n *= ms < targetMs / 100 ? 8 : 2;
  }
}

/** A measured subject: one call = one repeat, returning the figure (e.g. ns/op). */
export type Sampler = () => Promise<number> | number;

/**
 * Runs `warmup` unreported repeats, then `repeats` rounds; within a round the
 * samplers run one after the other (interleaved, so uringkit and its peers
 * see the same machine noise). Returns the samples of each sampler.
 */
export async function interleave(samplers: Record<string, Sampler>, opts: Pick<BenchOptions, 'repeats' | 'warmup'>):
  Promise<Record<string, number[]>> {
  const keys = Object.keys(samplers);
  const out: Record<string, number[]> = {};
  for (const k of keys) out[k] = [];
  for (let r = 0; r < opts.warmup; r++) for (const k of keys) await samplers[k]!();
  for (let r = 0; r < opts.repeats; r++) for (const k of keys) out[k]!.push(await samplers[k]!());
  return out;
}

/**
 * Calibrates `run` to ~repeatMs per repeat (n a multiple of `multiple`) and
 * returns a sampler of ns/op ÷ `scale`, or of operations per second with `rate`.
 */
export async function sampler(label: string, run: (n: number) => Promise<void> | void, o: Pick<BenchOptions, 'repeatMs'>,
  { multiple = 1, scale = 1, rate = false }: { multiple?: number; scale?: number; rate?: boolean } = {}):
  Promise<Sampler> {
  let n = await calibrate(run, o.repeatMs, multiple * 2);
  n = Math.max(multiple, Math.round(n / multiple) * multiple);
  progress(`${label}: ${n} ops per repeat`);
  return async () => {
    const t0 = nowNs();
    await run(n);
    const ns = nowNs() - t0;
    return rate ? (n * 1e9) / ns : ns / n / scale;
  };
}

/** Times `run(n)` and returns ns per operation. */
export async function nsPerOp(run: (n: number) => Promise<void> | void, n: number): Promise<number> {
  const t0 = nowNs();
  await run(n);
  return (nowNs() - t0) / n;
}

// ---- results -----------------------------------------------------------------

export interface CaseResult {
  name: string;
  unit: string;
  uringkit: number;
  peers: Record<string, number | null>;
  ratios: Record<string, number | null>;
  /** Why a peer is null (or anything else worth saying about it). */
  notes?: Record<string, string>;
  /** Stated goals, e.g. {"c-reference": 0.5} = ratio must be >= 0.5 (uringkit within 2x). */
  targets?: Record<string, number>;
  /** Per-peer: was the target met? null when the peer is missing. */
  targetMet?: Record<string, boolean | null>;
  /** Free-form detail about the uringkit figure (e.g. syscalls per op). */
  info?: string;
  /** Raw repeat samples, uringkit and peers. */
  samples?: Record<string, number[]>;
}

const RATE = /\/s$/i;

/** True when a bigger number is better for this unit (rates); false for costs. */
export function higherIsBetter(unit: string): boolean {
  return RATE.test(unit);
}

export function ratio(unit: string, uringkit: number, peer: number | null): number | null {
  if (peer === null || !Number.isFinite(peer) || !Number.isFinite(uringkit) || uringkit <= 0 || peer <= 0) return null;
  return higherIsBetter(unit) ? uringkit / peer : peer / uringkit;
}

/** Builder for one result row. */
export class Case {
  readonly #r: CaseResult;

  constructor(name: string, unit: string) {
    this.#r = { name, unit, uringkit: NaN, peers: {}, ratios: {} };
  }

  /** uringkit's figure: a number, or samples (the median is taken). */
  uringkit(v: number | readonly number[]): this {
    this.#r.uringkit = typeof v === 'number' ? v : median(v);
    if (typeof v !== 'number') (this.#r.samples ??= {})['uringkit'] = [...v];
    return this;
  }

  /** A peer's figure: a number, or samples (the median is taken). */
  peer(name: string, v: number | readonly number[], note?: string): this {
    this.#r.peers[name] = typeof v === 'number' ? v : median(v);
    if (typeof v !== 'number') (this.#r.samples ??= {})[name] = [...v];
    if (note !== undefined) (this.#r.notes ??= {})[name] = note;
    return this;
  }

  /** A peer that could not be measured: reported as null with the reason. */
  missingPeer(name: string, reason: string): this {
    this.#r.peers[name] = null;
    (this.#r.notes ??= {})[name] = reason;
    return this;
  }

  /** Goal: ratio against `peer` must be >= minRatio (e.g. 0.5 = "at most 2x the peer's cost"). */
  target(peer: string, minRatio: number): this {
    (this.#r.targets ??= {})[peer] = minRatio;
    return this;
  }

  build(): CaseResult {
    const r = this.#r;
    r.ratios = {};
    for (const [p, v] of Object.entries(r.peers)) r.ratios[p] = ratio(r.unit, r.uringkit, v);
    if (r.targets) {
      r.targetMet = {};
      for (const [p, min] of Object.entries(r.targets)) {
        const q = r.ratios[p];
        r.targetMet[p] = q === null || q === undefined ? null : q >= min;
      }
    }
    return r;
  }
}

// ---- environment ---------------------------------------------------------------

export interface BenchEnv {
  node: string;
  kernel: string;
  cpuModel: string;
  /** CPUs this process may run on (from /proc/self/status), e.g. "1". */
  cpusAllowed: string;
  pinned: boolean;
}

export function cpusAllowed(): string {
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? m[1]!.trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function benchEnv(): BenchEnv {
  const allowed = cpusAllowed();
  return {
    node: process.version,
    kernel: os.release(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpusAllowed: allowed,
    pinned: /^\d+$/.test(allowed),
  };
}

// ---- output --------------------------------------------------------------------

export interface SuiteReport {
  suite: string;
  env: BenchEnv;
  options: { repeats: number; repeatMs: number; warmup: number };
  cases: CaseResult[];
  notes?: string[];
}

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  return v.toFixed(3);
}

function table(rows: string[][]): string {
  const w: number[] = [];
  for (const r of rows) r.forEach((c, i) => (w[i] = Math.max(w[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd())
    .join('\n');
}

function times(x: number): string {
  return `${Number(x.toFixed(2))}x`;
}

/**
 * Human-readable form: one line per (case, peer). A missing peer shows as
 * MISSING in the table and with its reason below it.
 */
export function formatTable(rep: SuiteReport): string {
  const e = rep.env;
  const out = [
    `suite ${rep.suite} | node ${e.node} | kernel ${e.kernel} | ${e.cpuModel}`,
    `cpu: ${e.pinned ? `pinned to CPU ${e.cpusAllowed}` : `NOT pinned (allowed CPUs ${e.cpusAllowed})`}` +
      ` | median of ${rep.options.repeats} repeats x ~${rep.options.repeatMs} ms | ratio > 1: uringkit better`,
    '',
  ];
  const rows: string[][] = [['case', 'unit', 'uringkit', 'peer', 'peer value', 'ratio', 'target']];
  const missing: string[] = [];
  const peerNotes = new Map<string, string>();
  const info: string[] = [];
  for (const c of rep.cases) {
    if (c.info !== undefined) info.push(`  ${c.name}: ${c.info}`);
    const peers = Object.keys(c.peers);
    if (peers.length === 0) rows.push([c.name, c.unit, fmt(c.uringkit), '(no peer)', '-', '-', '']);
    peers.forEach((p, i) => {
      const v = c.peers[p];
      let tgt = '';
      const min = c.targets?.[p];
      if (min !== undefined) {
        const goal = higherIsBetter(c.unit) ? `>= ${times(min)} ${p}` : `<= ${times(1 / min)} ${p}`;
        const met = c.targetMet?.[p];
        tgt = `${goal}: ${met === true ? 'met' : met === false ? 'MISSED' : 'unknown (peer missing)'}`;
      }
      rows.push([
        i === 0 ? c.name : '', i === 0 ? c.unit : '', i === 0 ? fmt(c.uringkit) : '',
        p, v === null ? 'MISSING' : fmt(v), fmt(c.ratios[p]), tgt,
      ]);
      const note = c.notes?.[p];
      if (v === null) missing.push(`MISSING peer '${p}' in ${c.name}: ${note ?? 'no reason given'}`);
      else if (note !== undefined) peerNotes.set(`${p}: ${note}`, '');
    });
  }
  out.push(table(rows));
  if (missing.length) out.push('', ...missing);
  if (peerNotes.size) out.push('', 'peers:', ...[...peerNotes.keys()].map((n) => `  ${n}`));
  if (info.length) out.push('', 'uringkit:', ...info);
  if (rep.notes?.length) out.push('', ...rep.notes);
  return out.join('\n');
}

/** Prints the report: one JSON object on stdout with --json, else the table. */
export function emit(rep: SuiteReport, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify(rep) + '\n');
  else process.stdout.write(formatTable(rep) + '\n');
}
