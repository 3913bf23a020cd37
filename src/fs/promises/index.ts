/**
 * uringkit/fs (alias uringkit/fs/promises): a drop-in for node:fs/promises.
 *
 *   import fs from 'uringkit/fs';            // was: import fs from 'node:fs/promises';
 *   import { readFile, open } from 'uringkit/fs';
 *
 * Same exports, signatures, results and errors as node:fs/promises of the
 * running Node version. open/FileHandle I/O, stat, lstat, unlink, rmdir,
 * mkdir (non-recursive), rename, symlink, link, truncate, readFile,
 * writeFile, appendFile and the streams run on the calling thread's ring;
 * every other function is node:fs/promises' own (docs/guides/migrating-from-fs.md
 * has the table).
 */
import nodeFsp from 'node:fs/promises';

import {
  appendFile, link, lstat, mkdir, open, readFile, rename, rmdir, stat, symlink, truncate, unlink, writeFile,
} from './functions.js';

export {
  appendFile, link, lstat, mkdir, open, readFile, rename, rmdir, stat, symlink, truncate, unlink, writeFile,
} from './functions.js';
export { FileHandle } from './handle.js';
export type { ReadResult, WriteResult, WriteFileData } from './handle.js';
export { ReadStream, WriteStream, createReadStream, createWriteStream, READ_AHEAD, WRITE_BEHIND } from './streams.js';
export type { ReadStreamOptions, WriteStreamOptions } from './streams.js';

// ---- delegated to node:fs/promises (no io_uring operation, or node's own semantics) ----------------------

export const access = nodeFsp.access;
export const chmod = nodeFsp.chmod;
export const chown = nodeFsp.chown;
export const constants = nodeFsp.constants;
/** node's: libuv's copyfile uses copy_file_range / FICLONE, which copies inside the kernel. */
export const copyFile = nodeFsp.copyFile;
export const cp = nodeFsp.cp;
export const lchmod = nodeFsp.lchmod;
export const lchown = nodeFsp.lchown;
export const lutimes = nodeFsp.lutimes;
export const mkdtemp = nodeFsp.mkdtemp;
export const opendir = nodeFsp.opendir;
export const readdir = nodeFsp.readdir;
export const readlink = nodeFsp.readlink;
export const realpath = nodeFsp.realpath;
export const rm = nodeFsp.rm;
export const statfs = nodeFsp.statfs;
export const utimes = nodeFsp.utimes;
export const watch = nodeFsp.watch;
type Later = ((...args: never[]) => unknown) | undefined;
/** Node 22+ only (undefined on Node 20, where node:fs/promises has none). */
export const glob = (nodeFsp as { glob?: Later }).glob;
/** Node 24+ only. */
export const mkdtempDisposable = (nodeFsp as { mkdtempDisposable?: Later }).mkdtempDisposable;

const ring = {
  appendFile, link, lstat, mkdir, open, readFile, rename, rmdir, stat, symlink, truncate, unlink, writeFile,
};

/** The default export: node:fs/promises' own object (its exact keys on this Node) with the ring functions in place. */
const fsPromises: typeof nodeFsp = Object.assign({}, nodeFsp, ring) as unknown as
  typeof nodeFsp;
export default fsPromises;
