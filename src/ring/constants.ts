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
