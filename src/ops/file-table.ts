/**
 * The ring's registered file table (IOSQE_FIXED_FILE) that File uses.
 * `ring.fileTableStats()` is put on Ring by the method list (src/ops/methods.ts).
 *
 * Contract: a file table index is cleared (FILES_UPDATE to -1) in SQ order
 * before its file is closed, and reused only after that update's CQE, so an
 * operation staged for one file can never reach another. A table that cannot
 * be registered never fails the caller: File uses its plain fd.
 */
import os from 'node:os';
import util from 'node:util';

import { DescOp } from '../backend/protocol.js';
import { backendOf, errName } from '../buffer/registration.js';
import { ringInternals, type Ring } from '../ring/ring.js';
import { OP_FILES_UPDATE } from './file.js';

const debug = util.debuglog('uringkit');
const { errno: E } = os.constants;

const TABLE_SIZES = [4096, 1024, 256, 64];

/** A ring's registered file table: which indices are free. */
class FileTable {
  readonly free: number[] = [];
  installed = 0;
  constructor(readonly size: number) {
    for (let i = size - 1; i >= 0; i--) this.free.push(i);
  }
}

const tables = new WeakMap<Ring, FileTable | null>();
/** Why a ring has no table (a negative errno). */
const tableErrors = new WeakMap<Ring, number>();
let warnedFull = false;

function tableOf(ring: Ring): FileTable | null {
  let t = tables.get(ring);
  if (t !== undefined) return t;
  t = null;
  const [backend, h] = backendOf(ring);
  if (h === undefined || backend.registerFiles === undefined || backend.updateFiles === undefined) {
    debug('registered files: not available on this backend; using plain fds');
  } else {
    let res = 0;
    for (const size of TABLE_SIZES) {
      res = backend.registerFiles(h, size);
      if (res === 0) {
        t = new FileTable(size);
        debug('registered files: a table of %d entries', size);
        break;
      }
      if (res !== -E.EMFILE && res !== -E.ENOMEM) break;
    }
    if (t === null) {
      tableErrors.set(ring, res < 0 ? res : -E.EOPNOTSUPP);
      debug('registered files: IORING_REGISTER_FILES failed: %s; using plain fds', errName(res));
    }
  }
  tables.set(ring, t);
  return t;
}

/**
 * Installs `fd` in the ring's file table; returns its index, or a negative
 * errno (then use the plain fd): -EOPNOTSUPP without a table, -ENFILE when
 * the table is full, or what IORING_REGISTER_FILES_UPDATE reported.
 */
export function installFile(ring: Ring, fd: number): number {
  const t = tableOf(ring);
  if (t === null) return tableErrors.get(ring) ?? -E.EOPNOTSUPP;
  const i = t.free.pop();
  if (i === undefined) {
    if (!warnedFull) debug('registered files: the table (%d entries) is full; using plain fds', t.size);
    warnedFull = true;
    return -E.ENFILE;
  }
  const [backend, h] = backendOf(ring);
  let res = h === undefined ? -E.EBADF : backend.updateFiles!(h, i, fd);
  if (res !== 1) {
    t.free.push(i);
    if (res >= 0) res = -E.EIO;
    debug('registered files: IORING_REGISTER_FILES_UPDATE failed: %s; using a plain fd', errName(res));
    return res;
  }
  t.installed++;
  return i;
}

/**
 * Clears table entry `index` in SQ order (before anything staged after this
 * call, after anything staged before it). The index is reused once the
 * update has completed; if it failed (the ring is closing), never.
 */
export function removeFile(ring: Ring, index: number): Promise<void> {
  const t = tables.get(ring);
  if (t === undefined || t === null) return Promise.resolve();
  return (ringInternals().run<number>(ring, OP_FILES_UPDATE, DescOp.FILES_UPDATE, -1, index, 0, undefined, undefined,
    { pin: Int32Array.of(-1) }) as Promise<number>).then(() => {
    t.installed--;
    t.free.push(index);
  }, (e: unknown) => {
    debug('registered files: clearing entry %d failed: %s', index, (e as Error).message);
  });
}

/** What `ring.fileTableStats()` returns. */
export interface FileTableStats {
  /** Entries in the ring's registered file table. */
  size: number;
  /** Entries holding an open File's fd. */
  installed: number;
  /** Entries ready for the next File (entries being cleared are neither installed nor free). */
  free: number;
}

/** Registered-file table figures for a ring (undefined: no table). */
export function fileTableStats(ring: Ring): FileTableStats | undefined {
  const t = tables.get(ring);
  if (!t) return undefined;
  return { size: t.size, installed: t.installed, free: t.free.length };
}

/** `ring.fileTableStats()` (the method list puts it on Ring). */
export function ringFileTableStats(this: Ring): FileTableStats | undefined {
  return fileTableStats(this);
}

declare module '../ring/ring.js' {
  interface Ring {
    /** The registered file table's figures (undefined until a File registered its fd, or without a table). */
    fileTableStats(): FileTableStats | undefined;
  }
}
