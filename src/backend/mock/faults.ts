/**
 * The fault plan: rules that make matching operations fail, come up short,
 * complete late, overflow the completion queue or be refused at submission.
 * Every random decision comes from the mock's seeded PRNG, in submission
 * order, so a seed replays a run exactly.
 */
import { errnoName, errnoNumber } from '../shared/errno.js';
import type { Prng } from './prng.js';
import type { MockNames } from './names.js';
import type { MockOpAlias, MockOpName, MockRequest } from './types.js';

export interface FaultSpec {
  /** Which operations (names as in `mock.handle`); default every operation. */
  op?: MockOpName | MockOpAlias | readonly (MockOpName | MockOpAlias)[] | '*';
  /** Fail with this errno ('EIO', 'EAGAIN', 'ECONNRESET', ... or a number). The operation has no effect. */
  errno?: string | number;
  /**
   * read/write/readv/writev: transfer fewer bytes (a short read or write).
   * A number of bytes less than asked for (at least 1 byte is still moved),
   * or 'random' for a seeded random length in [1, asked - 1].
   */
  shortBy?: number | 'random';
  /** Complete this many ms of mock clock later (the effect happens then, too). */
  delayMs?: number;
  /** Count a completion-queue overflow (stats.cqOverflows) when it completes; it is still delivered. */
  overflow?: boolean;
  /**
   * Refuse the submission once (StageHeader.REFUSED = -EBUSY, as a kernel with a full CQ
   * does): the record stays staged and the ring retries on a later turn.
   * `times` defaults to 1 for such a rule.
   */
  busy?: boolean;
  /** Chance (0..1) that a matching operation is hit, drawn from the seeded PRNG. Default 1. */
  probability?: number;
  /** How many operations this rule may hit. Default unlimited (1 for `busy`). */
  times?: number;
  /** Let the first `after` matching operations through. Default 0. */
  after?: number;
  /** Only operations on this fd. */
  fd?: number;
  /** Only operations on this path (exact, absolute or as passed) or matching this RegExp. */
  path?: string | RegExp;
  /** Only operations for which this returns true (keep it pure: no ring calls). */
  match?(req: MockRequest): boolean;
}

/** A rule in the plan. */
export interface Fault {
  readonly id: number;
  readonly spec: Readonly<FaultSpec>;
  /** Operations it has hit. */
  readonly hits: number;
  /** Hits left (Infinity when unlimited). */
  readonly remaining: number;
  remove(): void;
}

/** @internal A rule with its resolved values. */
export interface FaultRule extends Fault {
  readonly ops: ReadonlySet<string> | undefined;
  readonly errnoValue: number | undefined;
  hits: number;
  remaining: number;
  seen: number;
}

export class FaultPlan {
  readonly #prng: Prng;
  readonly #abs: (p: string) => string;
  #rules: FaultRule[] = [];
  #nextId = 1;
  readonly #names: MockNames;

  /** @internal */
  constructor(prng: Prng, abs: (p: string) => string, names: MockNames) {
    this.#prng = prng;
    this.#abs = abs;
    this.#names = names;
  }

  /** Adds a rule (rules are tried in the order added; the first that hits applies). */
  add(spec: FaultSpec): Fault {
    if (spec === null || typeof spec !== 'object') throw new TypeError('faults.add(spec): spec must be an object');
    let ops: Set<string> | undefined;
    if (spec.op !== undefined && spec.op !== '*') {
      const list: readonly string[] = typeof spec.op === 'string' ? [spec.op] : spec.op;
      ops = new Set(list.map((n) => this.#names.resolve(n, 'faults.add: op')));
    }
    const errnoValue = spec.errno !== undefined ? errnoNumber(spec.errno, 'faults.add: errno') : undefined;
    if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
      throw new RangeError(`faults.add: probability must be in [0, 1], received ${spec.probability}`);
    }
    const times = spec.times ?? (spec.busy ? 1 : Infinity);
    if (!(times >= 0) || (Number.isFinite(times) && !Number.isInteger(times))) {
      throw new RangeError(`faults.add: times must be an integer >= 0 or Infinity, received ${spec.times}`);
    }
    if (spec.shortBy !== undefined && spec.shortBy !== 'random' && !(Number.isInteger(spec.shortBy) && spec.shortBy >= 1)) {
      throw new RangeError(`faults.add: shortBy must be an integer >= 1 or 'random', received ${String(spec.shortBy)}`);
    }
    if (spec.delayMs !== undefined && !(spec.delayMs >= 0)) {
      throw new RangeError(`faults.add: delayMs must be >= 0, received ${spec.delayMs}`);
    }
    if (spec.after !== undefined && !(Number.isInteger(spec.after) && spec.after >= 0)) {
      throw new RangeError(`faults.add: after must be an integer >= 0, received ${spec.after}`);
    }
    if (errnoValue === undefined && spec.shortBy === undefined && spec.delayMs === undefined && !spec.overflow &&
      !spec.busy) {
      throw new TypeError('faults.add: a fault needs an effect (errno, shortBy, delayMs, overflow or busy)');
    }
    const rule: FaultRule = {
      id: this.#nextId++, spec: Object.freeze({ ...spec }), ops, errnoValue, hits: 0, remaining: times, seen: 0,
      remove: () => {
        this.#rules = this.#rules.filter((r) => r !== rule);
      },
    };
    this.#rules.push(rule);
    return rule;
  }

  /** Removes every rule. */
  clear(): void {
    this.#rules = [];
  }

  /** The rules, in order. */
  get list(): readonly Fault[] {
    return [...this.#rules];
  }

  /** @internal The rule that hits this operation, if any (consumes one of its `times`). */
  pick(req: MockRequest, phase: 'submit' | 'op'): FaultRule | undefined {
    for (const rule of this.#rules) {
      const s = rule.spec;
      if (rule.remaining <= 0) continue;
      if ((phase === 'submit') !== (s.busy === true)) continue;
      if (rule.ops !== undefined && !rule.ops.has(req.op) && !rule.ops.has(this.#names.familyOf(req.op) ?? '')) continue;
      if (s.fd !== undefined && req.fd !== s.fd) continue;
      if (s.path !== undefined && !this.#pathMatches(s.path, req)) continue;
      if (s.match !== undefined && !s.match(req)) continue;
      if (++rule.seen <= (s.after ?? 0)) continue;
      if (s.probability !== undefined && s.probability < 1 && !(this.#prng.next() < s.probability)) continue;
      rule.remaining--;
      rule.hits++;
      return rule;
    }
    return undefined;
  }

  /** @internal A seeded random length for `shortBy: 'random'`. */
  shortLength(rule: FaultRule, asked: number): number {
    if (asked <= 1) return asked;
    const by = rule.spec.shortBy;
    if (by === 'random') return this.#prng.int(1, asked - 1);
    return Math.max(1, asked - (by ?? 0));
  }

  #pathMatches(want: string | RegExp, req: MockRequest): boolean {
    for (const p of [req.path, req.dest]) {
      if (p === undefined) continue;
      if (typeof want === 'string') {
        if (p === want || this.#abs(p) === this.#abs(want)) return true;
      } else if (want.test(p) || want.test(this.#abs(p))) return true;
    }
    return false;
  }

  /** @internal One line per rule, for describe(). */
  describe(): string[] {
    return this.#rules.map((r) => {
      const s = r.spec;
      const parts = [`#${r.id}`, `op=${r.ops ? [...r.ops].join('|') : '*'}`];
      if (r.errnoValue !== undefined) parts.push(`errno=${errnoName(-r.errnoValue)}`);
      if (s.shortBy !== undefined) parts.push(`shortBy=${s.shortBy}`);
      if (s.delayMs !== undefined) parts.push(`delayMs=${s.delayMs}`);
      if (s.overflow) parts.push('overflow');
      if (s.busy) parts.push('busy');
      if (s.probability !== undefined) parts.push(`p=${s.probability}`);
      if (s.after !== undefined) parts.push(`after=${s.after}`);
      if (s.fd !== undefined) parts.push(`fd=${s.fd}`);
      if (s.path !== undefined) parts.push(`path=${String(s.path)}`);
      if (s.match !== undefined) parts.push('match=fn');
      parts.push(`hits=${r.hits}`, `remaining=${r.remaining}`);
      return parts.join(' ');
    });
  }
}
