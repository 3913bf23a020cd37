/**
 * The File behind each of our FileHandles. streams.ts reads it here instead
 * of importing handle.ts, which imports streams.ts (createReadStream and
 * createWriteStream on the handle): the two modules stay out of a cycle.
 */
import type { File } from '../file.js';

const files = new WeakMap<object, File>();

/** Called once by each FileHandle's constructor. */
export function registerHandleFile(handle: object, file: File): void {
  files.set(handle, file);
}

/** The File of one of our FileHandles, or undefined for anything else. */
export function fileOfHandle(value: unknown): File | undefined {
  return typeof value === 'object' && value !== null ? files.get(value) : undefined;
}

/**
 * A FileHandle as the streams take it in `options.fd`: ours (its File is
 * looked up here) or node:fs/promises' (handed to node's own streams).
 */
export interface StreamFileHandle {
  readonly fd: number;
  close(): Promise<void>;
}
