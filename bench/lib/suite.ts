/** What every suite does first: pin itself, parse its options, note the environment. */
import { pinSelf } from './pin.js';
import { benchEnv, parseOptions, progress, type BenchEnv, type BenchOptions, type CaseResult } from './report.js';

export interface SuiteStart {
  o: BenchOptions;
  env: BenchEnv;
  cases: CaseResult[];
  /** Starts with the pinning note, if any. */
  notes: string[];
}

/**
 * Pins the process (bench/lib/pin.ts), parses `argv` with the suite's
 * defaults and, unless `announce` is false, prints the standard progress line.
 */
export function startSuite(name: string, argv: readonly string[], defaults: Partial<BenchOptions> = {},
  announce = true): SuiteStart {
  const pinNote = pinSelf();
  const o = parseOptions(argv, defaults);
  const env = benchEnv();
  if (announce) {
    progress(`${name} suite: ${env.pinned ? `pinned to CPU ${env.cpusAllowed}` : `not pinned (CPUs ${env.cpusAllowed})`}, ` +
      `${o.repeats} repeats x ~${o.repeatMs} ms`);
  }
  const notes: string[] = [];
  if (pinNote !== undefined) notes.push(`note: ${pinNote}`);
  return { o, env, cases: [], notes };
}
