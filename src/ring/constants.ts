/**
 * Kernel constants and the native stats layout used by Ring. The record and
 * completion layouts (and uringkit's own opcodes) are in src/backend/protocol.ts.
 */

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

/** IORING_OP_* numbers (include/uapi/linux/io_uring.h) that uringkit submits. */
export const IORING_OP = {
  NOP: 0, READV: 1, WRITEV: 2, FSYNC: 3, READ_FIXED: 4, WRITE_FIXED: 5, POLL_ADD: 6, SENDMSG: 9, RECVMSG: 10,
  TIMEOUT: 11, ACCEPT: 13, ASYNC_CANCEL: 14, LINK_TIMEOUT: 15, CONNECT: 16, FALLOCATE: 17, OPENAT: 18, CLOSE: 19,
  FILES_UPDATE: 20, STATX: 21, READ: 22, WRITE: 23, FADVISE: 24, SEND: 26, RECV: 27, OPENAT2: 28, SPLICE: 30,
  SHUTDOWN: 34, RENAMEAT: 35, UNLINKAT: 36, MKDIRAT: 37, SYMLINKAT: 38, LINKAT: 39, MSG_RING: 40, SEND_ZC: 47,
  FTRUNCATE: 55,
} as const;

/** Always allowed on a restricted ring: cancellation and deadlines are part of every operation. */
export const ALLOW_ALWAYS: readonly number[] = [IORING_OP.TIMEOUT, IORING_OP.ASYNC_CANCEL, IORING_OP.LINK_TIMEOUT];
