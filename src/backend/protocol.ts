/**
 * The backend protocol: the one statement of how Ring hands operations to a
 * backend and how completions come back. Every backend (the io_uring addon in
 * C, the portable backend over Node's own I/O, the mock) speaks it.
 *
 * Ring writes **descriptor records** into the shared `stage` Int32Array and a
 * backend posts **completion records** into the shared `out` Int32Array. A
 * record holds only scalars; memory an operation touches travels beside it in
 * the stage's pin array (element i for record i), never as an address.
 *
 * C keeps its own `#define`s in native/uk.h; test/backend/protocol.test.ts
 * reads that header and fails when the two sides disagree.
 *
 * Encoding is done by Ring alone (inline word writes with the offsets below:
 * `const enum`s, so the hot path pays nothing for the names); every
 * JavaScript backend decodes with `decodeRecord()`.
 */

/** The stage header: words before the first record. */
export const enum StageHeader {
  WORDS = 16,
  /** Records staged (Ring increments; the backend sets what it left staged). */
  COUNT = 0,
  /** After a flush: why records were left staged (-errno), else 0. */
  REFUSED = 2,
}

/**
 * A descriptor record: `Rec.WORDS` int32 words. Doubles sit on even words
 * (the header and record sizes are even), so a Float64Array over the same
 * buffer reads them at `word >> 1`.
 */
export const enum Rec {
  WORDS = 16,
  /** `op | flags << 8` (DescOp, DescFlag). */
  OP_FLAGS = 0,
  /** The slot (low 32 bits of user_data). */
  SLOT = 1,
  /** `generation << 2 | kind` (high 32 bits of user_data). */
  HI = 2,
  /** The fd, a registered-file index (DescFlag.FIXED_FILE), or a ring id (MSG_RING). */
  FD = 3,
  ARG0 = 4,
  ARG1 = 5,
  /** f64: the operation's own time in ms (TIMEOUT). */
  OP_MS = 6,
  /** f64: the deadline in ms (DescFlag.LINK_TIMEOUT). */
  LINK_MS = 8,
  /** f64: file position, -1 for the file's own position; a first offset. */
  POSITION = 10,
  /** f64: byte offset into the pinned view, or a second offset (splice). */
  OFFSET = 12,
  /** u32: byte length. */
  LENGTH = 14,
  ARG2 = 15,
}

/**
 * Stats a backend writes into the shared `stats` Float64Array (uk_stat in
 * native/uk.h); Ring reads them for ring.stats().
 */
export const enum NativeStat {
  ENTERS = 0,
  CQ_OVERFLOWS = 1,
  REAP_BATCHES = 2,
  SQES = 3,
  CQES_DROPPED = 4,
  COUNT = 5,
}

/**
 * Words of the `turn` Int32Array Ring shares with its backend (the same
 * contract as native/addon.c's uv_prepare hook).
 */
export const enum TurnWord {
  /** Loop turns seen by the backend (wraps). */
  COUNT = 0,
  /** Ring wants the event loop kept alive (set by Ring). */
  WANT_REF = 1,
  /** The backend currently keeps the loop alive (set by the backend). */
  REFFED = 2,
}

/** Completion flag (`Cqe.FLAGS`): more completions follow for this slot (a multishot operation). */
export const IORING_CQE_F_MORE = 1 << 1;

/**
 * IORING_OP_* numbers (include/uapi/linux/io_uring.h) that uringkit submits:
 * what a backend reports as supported (ring.supports(), the probe).
 */
export const IORING_OP = {
  NOP: 0, READV: 1, WRITEV: 2, FSYNC: 3, READ_FIXED: 4, WRITE_FIXED: 5, POLL_ADD: 6, SENDMSG: 9, RECVMSG: 10,
  SYNC_FILE_RANGE: 8, TIMEOUT: 11, ACCEPT: 13, ASYNC_CANCEL: 14, LINK_TIMEOUT: 15, CONNECT: 16, FALLOCATE: 17, OPENAT: 18, CLOSE: 19,
  FILES_UPDATE: 20, STATX: 21, READ: 22, WRITE: 23, FADVISE: 24, SEND: 26, RECV: 27, OPENAT2: 28, SPLICE: 30,
  SHUTDOWN: 34, RENAMEAT: 35, UNLINKAT: 36, MKDIRAT: 37, SYMLINKAT: 38, LINKAT: 39, MSG_RING: 40, SEND_ZC: 47,
  FTRUNCATE: 55,
} as const;

/** A completion record: `Cqe.WORDS` int32 words. */
export const enum Cqe {
  WORDS = 4,
  SLOT = 0,
  HI = 1,
  /** The result: >= 0, or -errno. */
  RES = 2,
  /** IORING_CQE_F_* bits. */
  FLAGS = 3,
}

/** Descriptor opcodes: uringkit's own stable numbering (uk_desc_op in native/uk.h). */
export const enum DescOp {
  NOP = 0,
  TIMEOUT = 1,
  POLL = 2,
  POLL_MULTI = 3,
  CLOSE = 4,
  CANCEL = 5,
  READ = 6,
  WRITE = 7,
  READV = 8,
  WRITEV = 9,
  FSYNC = 10,
  FALLOCATE = 11,
  FADVISE = 12,
  OPENAT = 13,
  STATX = 14,
  UNLINKAT = 15,
  MKDIRAT = 16,
  RENAMEAT = 17,
  SYMLINKAT = 18,
  LINKAT = 19,
  SPLICE = 20,
  FTRUNCATE = 21,
  ACCEPT = 22,
  CONNECT = 23,
  SEND = 24,
  RECV = 25,
  RECV_MULTI = 26,
  SENDMSG = 27,
  RECVMSG = 28,
  SEND_ZC = 29,
  SHUTDOWN = 30,
  /** Returns a provided buffer to its ring: takes no SQE and posts no CQE. */
  PBUF_RECYCLE = 31,
  MSG_RING = 32,
  /** READ into the registered buffer region (IORING_OP_READ_FIXED); a plain READ for any other view. */
  READ_FIXED = 33,
  WRITE_FIXED = 34,
  /** IORING_OP_FILES_UPDATE: arg0 first index, pin Int32Array of fds (-1 clears). */
  FILES_UPDATE = 35,
  /** IORING_OP_OPENAT2: fd dirfd, arg0 flags, arg1 mode, ARG2 resolve (RESOLVE_*); pin: path. */
  OPENAT2 = 36,
  /** IORING_OP_SYNC_FILE_RANGE: fd, arg0 flags (SYNC_FILE_RANGE_*), POSITION offset, OFFSET bytes (u32; 0: to end of file). */
  SYNC_FILE_RANGE = 37,
}

/** Descriptor flags (bits 8..15 of word 0). */
export const enum DescFlag {
  LINK_TIMEOUT = 1,
  /** The deadline is a separate IORING_OP_TIMEOUT, cancelled when the operation ends first. */
  SEPARATE_TIMER = 2,
  /** The fd is an index into the registered file table (IOSQE_FIXED_FILE). */
  FIXED_FILE = 4,
}

/** The kind of SQE an activation's user_data names (low 2 bits of hi). */
export const enum Kind {
  OP = 0,
  LINK_TIMEOUT = 1,
  CANCEL = 2,
}

/** The slot index of CQEs posted by other rings (msg_ring): 0xffffffff as an int32. */
export const SLOT_MESSAGE = -1;

/** Slots are below this (user_data keeps 24 bits for the slot index). */
export const MAX_SLOTS = 1 << 24;

/** One descriptor record, decoded. */
export interface DecodedRecord {
  op: DescOp;
  flags: number;
  slot: number;
  hi: number;
  kind: Kind;
  fd: number;
  arg0: number;
  arg1: number;
  opMs: number;
  linkMs: number;
  position: number;
  offset: number;
  length: number;
  arg2: number;
}

/** A Float64Array over the stage's buffer, for the f64 words of every record. */
export function stageF64(stage: Int32Array): Float64Array {
  return new Float64Array(stage.buffer, stage.byteOffset, stage.byteLength >> 3);
}

/** Record `index` of the stage (its word offset is StageHeader.WORDS + index * Rec.WORDS). */
export function decodeRecord(stage: Int32Array, f64: Float64Array, index: number): DecodedRecord {
  const base = StageHeader.WORDS + index * Rec.WORDS;
  const word0 = stage[base + Rec.OP_FLAGS]!;
  const hi = stage[base + Rec.HI]!;
  return {
    op: word0 & 0xff,
    flags: (word0 >>> 8) & 0xff,
    slot: stage[base + Rec.SLOT]!,
    hi,
    kind: hi & 3,
    fd: stage[base + Rec.FD]!,
    arg0: stage[base + Rec.ARG0]!,
    arg1: stage[base + Rec.ARG1]!,
    opMs: f64[(base + Rec.OP_MS) >> 1]!,
    linkMs: f64[(base + Rec.LINK_MS) >> 1]!,
    position: f64[(base + Rec.POSITION) >> 1]!,
    offset: f64[(base + Rec.OFFSET) >> 1]!,
    length: stage[base + Rec.LENGTH]! >>> 0,
    arg2: stage[base + Rec.ARG2]!,
  };
}

/** Writes completion record `index` into `out`. */
export function writeCompletion(out: Int32Array, index: number, slot: number, hi: number, res: number,
  flags: number): void {
  const o = index * Cqe.WORDS;
  out[o + Cqe.SLOT] = slot;
  out[o + Cqe.HI] = hi;
  out[o + Cqe.RES] = res;
  out[o + Cqe.FLAGS] = flags;
}
