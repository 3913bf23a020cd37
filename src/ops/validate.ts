/**
 * Argument checking for operations: the shared checks live at the ring layer
 * (src/ring/checks.ts, so that Ring never imports from ops/); re-exported here
 * for the operation families and the layers above.
 */
export {
  callbackArg, checkCallback, checkFd, checkMs, checkOptions, checkUint32, isDetached, MAX_TIMEOUT_MS, type Callback,
  type OpOptions,
} from '../ring/checks.js';
