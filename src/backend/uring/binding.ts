/**
 * Loading the native addon. The binding is injectable (as better-sqlite3's
 * `nativeBinding`): `setNativeBinding()` replaces it, for example with a path
 * to a custom build.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Backend, BackendHandle, SyscallBackend } from '../backend.js';

/** The native addon implements the Backend interface (the io_uring backend). */
export type NativeBinding = Backend;
export type NativeHandle = BackendHandle;

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

let binding: NativeBinding | undefined;

/** The loaded addon (built under build/ or shipped under prebuilds/). */
export function nativeBinding(): NativeBinding {
  if (binding === undefined) {
    // UK_ADDON_PATH: another build of the addon (the sanitizer build in `npm run test:asan`).
    const override = process.env.UK_ADDON_PATH;
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    const addon = (override ? require(override) : load(packageRoot)) as NativeBinding & Record<string, unknown>;
    // The addon exports the syscall helpers flat; the Backend shape groups them.
    binding = Object.assign(Object.create(addon) as NativeBinding, { sys: addon as unknown as SyscallBackend });
  }
  return binding;
}

/** Use another build of the addon: a loaded module or a path to a `.node` file. */
export function setNativeBinding(b: NativeBinding | string): void {
  binding = typeof b === 'string' ? (require(b) as NativeBinding) : b;
}
