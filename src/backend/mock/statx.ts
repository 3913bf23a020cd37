/** Byte offsets in `struct statx` (linux/stat.h, the kernel's ABI), as src/fs/stats.ts parses it. */
export const enum Statx {
  BYTES = 256,
  MASK = 0,
  BLKSIZE = 4,
  NLINK = 16,
  UID = 20,
  GID = 24,
  MODE = 28,
  INO = 32,
  SIZE = 40,
  BLOCKS = 48,
  ATIME = 64,
  BTIME = 80,
  CTIME = 96,
  MTIME = 112,
  DEV_MAJOR = 136,
  DEV_MINOR = 140,
  /** Within a timestamp: seconds (i64), then nanoseconds (u32). */
  TV_SEC = 0,
  TV_NSEC = 8,
}
