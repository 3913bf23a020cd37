/**
 * One inode of the mock's in-memory file system (fs.ts): a regular file, a
 * directory or a symbolic link, with the fields `struct statx` reports.
 */
import { constants as fsc } from 'node:fs';

export type InodeType = 'file' | 'directory' | 'symlink';

/** @internal */
export class Inode {
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  readonly btimeNs: bigint;
  /** Regular file: the bytes [0, min(size, data.length)); beyond data.length up to size reads as zeros. */
  data = new Uint8Array(0);
  size = 0;
  /** Directory: entries and the parent directory (the root is its own parent). */
  readonly entries = new Map<string, Inode>();
  parent: Inode | undefined;
  /** Symbolic link: the target, verbatim. */
  target = '';

  constructor(readonly ino: number, readonly type: InodeType, public perm: number, public uid: number,
    public gid: number, nowNs: bigint) {
    this.nlink = type === 'directory' ? 2 : 1;
    this.atimeNs = this.mtimeNs = this.ctimeNs = this.btimeNs = nowNs;
  }

  get mode(): number {
    const t = this.type === 'file' ? fsc.S_IFREG : this.type === 'directory' ? fsc.S_IFDIR : fsc.S_IFLNK;
    return t | (this.perm & 0o7777);
  }

  /** Byte size as stat reports it. */
  get statSize(): number {
    if (this.type === 'file') return this.size;
    if (this.type === 'symlink') return Buffer.byteLength(this.target);
    return 4096;
  }
}
