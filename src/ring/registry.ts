/**
 * The engine's view of operations: what Ring needs to know about each one
 * (its name and syscall for errors, how a result becomes the user's value).
 *
 * The registry is filled from one place, the operation table
 * (src/ops/table.ts), which registers every entry by name. Ids are handed
 * back by `registerOp` and looked up by name (`opIdOf`): no code depends on
 * the order of registration.
 */

/** What the ring needs to know about an operation. */
export interface OpInfo {
  /** The public name, for messages and the diagnostics channels. */
  readonly name: string;
  /** The syscall named in a SystemError. */
  readonly syscall: string;
  /** Turns a successful CQE result (and the slot's pin) into the user's value; default: undefined. */
  readonly shape?: ((res: number, pin: unknown) => unknown) | undefined;
  /** Multishot: turns each CQE (result, CQE flags) into a yielded value; default: the result. */
  readonly shapeMore?: ((res: number, cqeFlags: number, pin: unknown) => unknown) | undefined;
  /** The result is a new fd: if the operation was aborted but completed anyway, close it and reject. */
  readonly resultIsFd?: boolean | undefined;
  /**
   * The kernel runs it on a worker thread (forced async: open with O_CREAT,
   * statx, unlink, mkdir, rename, fsync, ...). Its deadline is a separate
   * timer: a linked timeout is not reliably armed for such work.
   */
  readonly forceAsync?: boolean | undefined;
  /** A more specific error for some negative results (default: SystemError). */
  readonly mapError?: ((res: number) => Error | undefined) | undefined;
  /** Success results (e.g. -ETIME for a timeout) that are not errors. */
  readonly okResult?: number | undefined;
}

/**
 * Every entry gets the same keys in the same order (one hidden class), so the
 * completion path's loads (`info.shape`, `info.okResult`, ...) stay
 * monomorphic however many operations are registered.
 */
function normalize(info: OpInfo): OpInfo {
  return {
    name: info.name,
    syscall: info.syscall,
    shape: info.shape,
    shapeMore: info.shapeMore,
    resultIsFd: info.resultIsFd,
    forceAsync: info.forceAsync,
    mapError: info.mapError,
    okResult: info.okResult,
  };
}

/** Indexed by operation id (the slot table stores ids in a Uint8Array). */
export const OPS: OpInfo[] = [];
const byName = new Map<string, number>();

/** Public method → the IORING_OP_* numbers its forms may submit (for ring.supports(name)). */
const opcodesByMethod = new Map<string, number[]>();
/** `RingOptions.allow` group → the IORING_OP_* numbers it permits. */
const opcodesByAllow = new Map<string, number[]>();

function addTo(map: Map<string, number[]>, name: string, opcodes: readonly number[]): void {
  const set = map.get(name) ?? [];
  for (const n of opcodes) if (!set.includes(n)) set.push(n);
  map.set(name, set);
}

/** The IORING_OP_* numbers of a public method, or undefined for a name no operation has. */
export function opcodesOf(method: string): readonly number[] | undefined {
  return opcodesByMethod.get(method);
}

/** The IORING_OP_* numbers of an allow-list group, or undefined for an unknown group. */
export function allowOpcodes(group: string): readonly number[] | undefined {
  return opcodesByAllow.get(group);
}

/** Every allow-list group name. */
export function allowGroups(): string[] {
  return [...opcodesByAllow.keys()];
}

/** Where an operation is listed besides the engine: its public method, allow group and opcodes. */
export interface OpListing {
  readonly method?: string | undefined;
  readonly allow?: string | undefined;
  readonly opcodes: readonly number[];
}

/** Registers an operation under its (unique) key; returns its id. */
export function registerOp(info: OpInfo, key: string = info.name, listing?: OpListing): number {
  if (listing !== undefined) {
    if (listing.method !== undefined) addTo(opcodesByMethod, listing.method, listing.opcodes);
    if (listing.allow !== undefined) addTo(opcodesByAllow, listing.allow, listing.opcodes);
  }
  if (byName.has(key)) throw new Error(`operation '${key}' is registered twice`);
  if (OPS.length >= 255) throw new Error('too many operations');
  OPS.push(normalize(info));
  byName.set(key, OPS.length - 1);
  return OPS.length - 1;
}

/** The id registered under `key`; throws when the operation table did not register it. */
export function opIdOf(key: string): number {
  const id = byName.get(key);
  if (id === undefined) throw new Error(`operation '${key}' is not registered (src/ops/table.ts)`);
  return id;
}
