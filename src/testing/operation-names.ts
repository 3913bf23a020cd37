/**
 * The mock's operation names, derived from the operation table
 * (src/ops/table.ts): every entry's `name` is a mock name, and nothing else
 * is (test/ring/operation-table.test.ts checks both ways). The mock backend
 * (src/backend/mock) sits below the table and cannot import it; this module
 * sits above both and hands the names to every MockBackend it creates
 * (src/testing/mock-backend.ts).
 */
import { MockNames, type MockOperationSpec } from '../backend/mock/names.js';
import { ALLOW_ALWAYS, OPERATIONS, type OperationName } from '../ops/table.js';

declare module '../backend/mock/types.js' {
  /** The table's names make MockOpName (see MockOperationNames). */
  interface MockOperationNames extends Record<OperationName, true> {}
}

/**
 * Documented older names, still accepted: `close`, `timeout` and `stat` (the
 * testing guide's and MockBackend.handle's own aliases) and, deprecated,
 * `msgRing` (the ring-to-ring message's mock name before it was
 * `sendMessage`; README changelog).
 */
const ALIASES: Readonly<Record<string, OperationName>> = {
  close: 'closeFd', timeout: 'sleep', stat: 'statx', msgRing: 'sendMessage',
};

const SPECS: readonly MockOperationSpec[] = OPERATIONS.map((o) => ({
  name: o.name,
  descOp: o.descOp,
  marks: o.marks,
  family: o.issuedBy,
  opcode: o.uringOps[0]!,
  model: o.backends.mock === 'yes',
}));

/** Every mock operation name: the operation table's names, in table order. */
export const MOCK_OP_NAMES: readonly OperationName[] = Object.freeze([...new Set(OPERATIONS.map((o) => o.name))]);

/** What every MockBackend of uringkit/testing is given. */
export const MOCK_NAMES = new MockNames(SPECS, ALIASES, ['msgRing'], ALLOW_ALWAYS);
