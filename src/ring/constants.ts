/**
 * Numbers shared with native/uk.h. Changing one side means changing both.
 */

/** Descriptor opcodes (uk_desc_op). */
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
  PBUF_RECYCLE = 31,
  MSG_RING = 32,
  /** READ into the registered buffer region (IORING_OP_READ_FIXED); a plain READ for any other view. */
  READ_FIXED = 33,
  WRITE_FIXED = 34,
  /** IORING_OP_FILES_UPDATE: arg0 first index, pin Int32Array of fds (-1 clears). */
  FILES_UPDATE = 35,
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

/** The slot index of CQEs posted by other rings (msg_ring). */
export const SLOT_MESSAGE = -1;

/** Stats written by C into the shared Float64Array (uk_stat). */
export const enum NativeStat {
  ENTERS = 0,
  CQ_OVERFLOWS = 1,
  REAP_BATCHES = 2,
  SQES = 3,
  CQES_DROPPED = 4,
  COUNT = 5,
}

/** Kernel constants used by the ring. */
export const IORING_CQE_F_MORE = 1 << 1;
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;

/** IORING_OP_* numbers (for the probe and error messages). */
export const IORING_OP = {
  NOP: 0,
  POLL_ADD: 6,
  TIMEOUT: 11,
  ASYNC_CANCEL: 14,
  LINK_TIMEOUT: 15,
  CLOSE: 19,
  FALLOCATE: 17,
  OPENAT: 18,
  STATX: 21,
  READ: 22,
  WRITE: 23,
  FADVISE: 24,
  SPLICE: 30,
  RENAMEAT: 35,
  UNLINKAT: 36,
  MKDIRAT: 37,
  SYMLINKAT: 38,
  LINKAT: 39,
  FTRUNCATE: 55,
  SENDMSG: 9,
  RECVMSG: 10,
  ACCEPT: 13,
  CONNECT: 16,
  SEND: 26,
  RECV: 27,
  SHUTDOWN: 34,
  MSG_RING: 40,
  SEND_ZC: 47,
} as const;
