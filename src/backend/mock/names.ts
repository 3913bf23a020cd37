/**
 * The mock's operation names. They are not kept here: uringkit/testing
 * derives them from the operation table (src/ops/table.ts, through
 * src/testing/operation-names.ts) and hands them to every MockBackend it
 * creates, so the table is their one source. This file only applies them:
 * a name (or a documented alias) to its canonical name, a descriptor record
 * to the name of the table entry it was issued for, and the probe answer.
 */
/** One table entry, as the mock needs it. */
export interface MockOperationSpec {
  /** The table's public name (`read`, `fstat`, `sendMessage`, ...). */
  readonly name: string;
  /** Its record opcode (DescOp). */
  readonly descOp: number;
  /** Record bits that tell it from another entry with the same DescOp. */
  readonly marks?: { readonly arg0?: number | undefined; readonly arg1?: number | undefined } | undefined;
  /** The public method that issues it, when that is another name (`fstat` → `statx`). */
  readonly family?: string | undefined;
  /** The IORING_OP_* it submits (what the mock's probe reports for it). */
  readonly opcode: number;
  /** The mock has a built-in model for it (probe reports it without a handler). */
  readonly model: boolean;
}

/** The names, aliases and probe of a MockBackend (built once by uringkit/testing). */
export class MockNames {
  /** Every canonical name, in table order. */
  readonly list: readonly string[];
  readonly #aliases: ReadonlyMap<string, string>;
  readonly #deprecated: ReadonlySet<string>;
  readonly #warned = new Set<string>();
  readonly #family = new Map<string, string>();
  /** DescOp → its entries, the most specific marks first. */
  readonly #byDesc = new Map<number, MockOperationSpec[]>();
  readonly #specs: readonly MockOperationSpec[];
  readonly #always: readonly number[];

  /**
   * `aliases`: alias → canonical name (each alias a documented public name);
   * `deprecated`: the aliases that warn (once per process, DeprecationWarning);
   * `always`: IORING_OPs every ring has (cancel, timeouts).
   */
  constructor(specs: readonly MockOperationSpec[], aliases: Readonly<Record<string, string>>,
    deprecated: readonly string[], always: readonly number[]) {
    this.#deprecated = new Set(deprecated);
    this.#specs = specs;
    this.#always = always;
    const names: string[] = [];
    for (const s of specs) {
      if (!names.includes(s.name)) names.push(s.name);
      if (s.family !== undefined && s.family !== s.name) this.#family.set(s.name, s.family);
      const list = this.#byDesc.get(s.descOp) ?? [];
      list.push(s);
      this.#byDesc.set(s.descOp, list);
    }
    const weight = (s: MockOperationSpec): number => popcount(s.marks?.arg0 ?? 0) + popcount(s.marks?.arg1 ?? 0);
    for (const list of this.#byDesc.values()) list.sort((a, b) => weight(b) - weight(a));
    this.list = Object.freeze(names);
    for (const [alias, name] of Object.entries(aliases)) {
      if (!names.includes(name)) throw new Error(`mock alias '${alias}' names no operation ('${name}')`);
    }
    this.#aliases = new Map(Object.entries(aliases));
  }

  /** The canonical name of a name or alias; a TypeError (ERR_INVALID_ARG_VALUE) for any other string. */
  resolve(name: unknown, what: string): string {
    if (typeof name === 'string') {
      if (this.list.includes(name)) return name;
      const alias = this.#aliases.get(name);
      if (alias !== undefined) {
        if (this.#deprecated.has(name) && !this.#warned.has(name)) {
          this.#warned.add(name);
          process.emitWarning(`the mock operation name '${name}' is deprecated: use '${alias}'`,
            { type: 'DeprecationWarning', code: 'URINGKIT_MOCK_OP_NAME' });
        }
        return alias;
      }
    }
    const err = new TypeError(`${what}: unknown mock operation '${String(name)}' (one of ${this.list.join(', ')})`);
    throw Object.assign(err, { code: 'ERR_INVALID_ARG_VALUE' });
  }

  /** The name of the entry a record was issued for, or undefined for a DescOp no entry has. */
  nameOf(descOp: number, arg0: number, arg1: number): string | undefined {
    const list = this.#byDesc.get(descOp);
    if (list === undefined) return undefined;
    for (const s of list) {
      const m0 = s.marks?.arg0 ?? 0;
      const m1 = s.marks?.arg1 ?? 0;
      if ((arg0 & m0) === m0 && (arg1 & m1) === m1) return s.name;
    }
    return undefined;
  }

  /**
   * Whether a handler, fault or `calls()` given `wanted` applies to an
   * operation named `actual`: its own name, or the method that issues it
   * (a `statx` handler also answers `ring.statx(fd)`, logged as `fstat`).
   */
  covers(wanted: string, actual: string): boolean {
    return wanted === actual || this.#family.get(actual) === wanted;
  }

  /** The method a variant is issued by (`fstat` → `statx`), else undefined. */
  familyOf(name: string): string | undefined {
    return this.#family.get(name);
  }

  /**
   * IORING_REGISTER_PROBE's answer: the opcodes of the operations with a
   * built-in model, plus those a handler answers (`hasHandler(name)`).
   */
  probe(hasHandler: (name: string) => boolean): Uint8Array {
    const p = new Uint8Array(256);
    for (const n of this.#always) p[n] = 1;
    for (const s of this.#specs) if (s.model || hasHandler(s.name)) p[s.opcode] = 1;
    return p;
  }
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v !== 0; v &= v - 1) c++;
  return c;
}
