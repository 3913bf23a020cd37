/**
 * What the mock records for the test to read: every operation submitted
 * (bounded), operations that had no handler or model, and errors thrown by
 * handlers or fault `match` functions. The arrays are the ones MockBackend
 * exposes (`mock.log`, `mock.unhandled`, `mock.errors`), mutated in place.
 */
import { errnoName } from '../shared/errno.js';
import type { MockLogEntry, MockOpName } from './types.js';

/** An operation without a handler or a built-in model. */
export interface MockUnhandled {
  op: MockOpName;
  seq: number;
  fd: number;
  path?: string | undefined;
  message: string;
}

export class MockLog {
  readonly entries: MockLogEntry[] = [];
  readonly unhandled: MockUnhandled[] = [];
  readonly errors: Error[] = [];
  readonly #limit: number;
  readonly #warned = new Set<string>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(entry: MockLogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.#limit) this.entries.splice(0, this.entries.length - this.#limit);
  }

  /** Records an error thrown by test code (a handler, a fault's match) and warns once per error. */
  recordError(e: unknown, context: string): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const wrapped = new Error(`${context}: ${err.message}`, { cause: err });
    this.errors.push(wrapped);
    process.emitWarning(wrapped.message, { code: 'URINGKIT_MOCK_HANDLER_ERROR' });
  }

  /** Records an operation nothing could run (it fails with ENOSYS); warns once per operation name. */
  recordUnhandled(u: MockUnhandled): void {
    this.unhandled.push(u);
    if (!this.#warned.has(u.op)) {
      this.#warned.add(u.op);
      process.emitWarning(u.message, { code: 'URINGKIT_MOCK_UNHANDLED' });
    }
  }

  /** Lines for describe(): problems and the last `recent` operations. */
  describe(recent = 15): string[] {
    const lines: string[] = [];
    if (this.unhandled.length) lines.push(`  unhandled:`, ...this.unhandled.slice(0, 10).map((u) => `    ${u.message}`));
    if (this.errors.length) lines.push(`  handler errors:`, ...this.errors.slice(0, 10).map((e) => `    ${e.message}`));
    const last = this.entries.slice(-recent);
    if (last.length) {
      lines.push(`  last ${last.length} operations:`);
      for (const e of last) {
        const res = e.res === undefined ? 'in flight' : e.res < 0 ? errnoName(e.res) : String(e.res);
        lines.push(`    #${e.seq} t=${e.at}ms ${e.op} fd=${e.fd}${e.path ? ` ${e.path}` : ''} -> ${res}` +
          (e.fault !== undefined ? ` (fault #${e.fault})` : '') + (e.by !== undefined ? ` [${e.by}]` : ''));
      }
    }
    return lines;
  }
}
