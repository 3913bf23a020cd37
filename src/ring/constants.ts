/**
 * Kernel constants the ring uses for setup and restriction. The stats and
 * turn-word layouts, the completion flags and the IORING_OP numbers are part
 * of the backend contract and live in src/backend/protocol.ts (re-exported
 * here for the layers above).
 */
import { IORING_OP } from '../backend/protocol.js';

export { IORING_CQE_F_MORE, IORING_OP, NativeStat, TurnWord } from '../backend/protocol.js';

export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;

/** Always allowed on a restricted ring: cancellation and deadlines are part of every operation. */
export const ALLOW_ALWAYS: readonly number[] = [IORING_OP.TIMEOUT, IORING_OP.ASYNC_CANCEL, IORING_OP.LINK_TIMEOUT];
