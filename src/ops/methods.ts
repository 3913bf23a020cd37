/**
 * The one method list: every public Ring operation is put on Ring.prototype
 * here, from the plain functions of the operation modules (ops/core.ts,
 * ops/file.ts, ops/socket.ts). The list is the operation table's `method`s
 * (src/ops/table.ts): a new operation adds nothing here; a table method
 * without its issuing function fails at load.
 *
 * Modules that call operations on a ring import `Ring` from here (or from the
 * package entry), which guarantees the list ran: nothing depends on which
 * module happened to load first.
 */
import { bufferPoolOf, registerBuffers } from '../buffer/buffer-pool.js';
import { Ring } from '../ring/ring.js';
import * as core from './core.js';
import * as file from './file.js';
import { ringFileTableStats } from './file-table.js';
import * as socket from './socket.js';
import { OPERATIONS } from './table.js';

/**
 * The operation modules. Each exports the issuing function of its
 * operations under the method's name (`export function read(this: Ring, ...)`).
 * Their types reach every module's `declare module` overloads of Ring, so
 * the package's declaration files carry them from here.
 */
const FAMILIES = { core, file, socket } as const;
/** Exported so the declaration files import the three modules (and so their Ring overloads). */
export type OperationModules = typeof FAMILIES;

/** Issuing function of an operation's method: the one family module export with that name. */
type Issuer = (this: Ring, ...args: never[]) => unknown;

function methodsOfTable(): Readonly<Record<string, Issuer>> {
  const out: Record<string, Issuer> = {};
  for (const o of OPERATIONS) {
    if (o.method === undefined) continue;
    const found = Object.values(FAMILIES).flatMap((m) => {
      const fn = (m as Readonly<Record<string, unknown>>)[o.method!];
      return typeof fn === 'function' ? [fn as Issuer] : [];
    });
    if (found.length !== 1) {
      throw new Error(`ops/methods: the table method '${o.method}' needs one issuing function in ops/core.ts, ` +
        `ops/file.ts or ops/socket.ts (found ${found.length})`);
    }
    out[o.method] = found[0]!;
  }
  return Object.freeze(out);
}

/** Public method name → issuing function (`this` is the ring): every `method` of the operation table. */
export const METHODS: Readonly<Record<string, Issuer>> = methodsOfTable();

/**
 * The registered-resource methods: not operations of the table (they issue
 * no operation of their own), but on Ring through this same list.
 */
export const RESOURCE_METHODS = Object.freeze({ registerBuffers, fileTableStats: ringFileTableStats });
/** Read-only properties of Ring computed by a function of the ring. */
export const GETTERS = Object.freeze({ bufferPool: bufferPoolOf });

for (const [name, fn] of [...Object.entries(METHODS), ...Object.entries(RESOURCE_METHODS)]) {
  Object.defineProperty(Ring.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
for (const [name, get] of Object.entries(GETTERS)) {
  Object.defineProperty(Ring.prototype, name, { get, configurable: true, enumerable: false });
}

export { Ring };
