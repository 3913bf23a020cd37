/**
 * Loading the native addon. The binding is injectable (as better-sqlite3's
 * `nativeBinding`): `setNativeBinding()` replaces it, for example with a path
 * to a custom build.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The native ring handle: opaque to JavaScript. */
export type NativeHandle = object & { readonly __nativeRing: unique symbol };

/** The addon's functions (native/addon.c). Every check is repeated in C. */
export interface NativeBinding {
  create(entries: number, cqEntries: number, wantFlags: number, stage: Int32Array, out: Int32Array,
    stats: Float64Array, turn: Int32Array, onWake: () => void): NativeHandle | number;
  info(h: NativeHandle): [setupFlags: number, features: number, sqEntries: number, cqEntries: number, fd: number];
  probe(h: NativeHandle): Uint8Array | number;
  flush(h: NativeHandle, pins?: unknown[]): number;
  reap(h: NativeHandle): number;
  setRef(h: NativeHandle, on: boolean): void;
  destroy(h: NativeHandle): void;
  readonly DESC_WORDS: number;
  readonly STAGE_HEADER_WORDS: number;
  readonly CQE_WORDS: number;
}

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let binding: NativeBinding | undefined;

/** The loaded addon (built under build/ or shipped under prebuilds/). */
export function nativeBinding(): NativeBinding {
  if (binding === undefined) {
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    binding = load(packageRoot);
  }
  return binding;
}

/** Use another build of the addon: a loaded module or a path to a `.node` file. */
export function setNativeBinding(b: NativeBinding | string): void {
  binding = typeof b === 'string' ? (require(b) as NativeBinding) : b;
}
