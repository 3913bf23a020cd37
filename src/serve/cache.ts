/**
 * The server's file cache: one entry per normalized request path (so `/x`,
 * `/./x`, `//x` and `/%78` share one), bounded three ways: entries, bytes of
 * file bodies, and bytes of metadata (the key, the real path and the
 * pre-formatted header lines, counted as their string lengths plus a fixed
 * overhead). Whatever a client sends, the cache never holds more than
 * `maxEntries`, `maxBodyBytes + maxMetaBytes` in all.
 *
 * Eviction is in insertion order, and an entry is re-inserted (made
 * youngest) each time it is revalidated, so it approximates
 * least-recently-used without touching the map on every hit.
 */
import type { FileEntry } from './files.js';

/** Per-entry bookkeeping beyond its strings (the object, the Map slot, numbers), in bytes: an estimate. */
const ENTRY_OVERHEAD = 256;

export interface CacheLimits {
  /** Bytes of file bodies (0: no body is cached). */
  maxBodyBytes: number;
  /** Entries (0: nothing is cached, every request resolves its path again). */
  maxEntries: number;
  /** Bytes of metadata. */
  maxMetaBytes: number;
}

/** Default metadata budget: 16,384 entries of ordinary path lengths fit easily. */
export const DEFAULT_META_BYTES = 8 * 1024 * 1024;
export const DEFAULT_ENTRIES = 16384;

export class FileCache {
  readonly #map = new Map<string, FileEntry>();
  readonly #limits: CacheLimits;
  #bodyBytes = 0;
  #metaBytes = 0;

  constructor(limits: CacheLimits) {
    this.#limits = { ...limits };
  }

  /** Bytes held: bodies plus metadata. */
  get bytes(): number {
    return this.#bodyBytes + this.#metaBytes;
  }

  get bodyBytes(): number {
    return this.#bodyBytes;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): FileEntry | undefined {
    return this.#map.get(key);
  }

  static metaCost(e: FileEntry): number {
    return ENTRY_OVERHEAD + 2 * (e.key.length + e.realPath.length) + e.fixed.length + e.etag.length;
  }

  /** Whether a body of `size` bytes may be cached at all. */
  fits(size: number): boolean {
    return this.#limits.maxEntries > 0 && this.#limits.maxBodyBytes > 0 && size <= this.#limits.maxBodyBytes;
  }

  /** Adds or replaces the entry for `e.key`, evicting the oldest entries until every bound holds. Too big alone: not kept. */
  set(e: FileEntry): void {
    this.delete(e.key);
    const l = this.#limits;
    const meta = FileCache.metaCost(e);
    const body = e.body?.length ?? 0;
    if (l.maxEntries === 0 || meta > l.maxMetaBytes || body > l.maxBodyBytes) return;
    for (const [k] of this.#map) {
      if (this.#map.size < l.maxEntries && this.#bodyBytes + body <= l.maxBodyBytes &&
        this.#metaBytes + meta <= l.maxMetaBytes) break;
      this.delete(k);
    }
    this.#map.set(e.key, e);
    this.#bodyBytes += body;
    this.#metaBytes += meta;
  }

  /** Makes `e` the youngest entry (after a revalidation). */
  touch(e: FileEntry): void {
    if (this.#map.get(e.key) !== e) return;
    this.#map.delete(e.key);
    this.#map.set(e.key, e);
  }

  /** Removes the entry for `key`; with `only`, only when that entry is still the one cached. */
  delete(key: string, only?: FileEntry): void {
    const old = this.#map.get(key);
    if (old === undefined || (only !== undefined && old !== only)) return;
    this.#map.delete(key);
    this.#bodyBytes -= old.body?.length ?? 0;
    this.#metaBytes -= FileCache.metaCost(old);
  }

  clear(): void {
    this.#map.clear();
    this.#bodyBytes = 0;
    this.#metaBytes = 0;
  }
}
