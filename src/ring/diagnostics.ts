/** The ring's observability: diagnostics channels and the NODE_DEBUG=uringkit log. */
import dc from 'node:diagnostics_channel';
import util from 'node:util';

/**
 * Observability. `uringkit:op:submit` receives `{ ring, op, fd }` when an
 * operation is issued; `uringkit:op:complete` receives `{ ring, op, fd,
 * result, error, durationMs }` when it settles. With no subscriber the cost is
 * one `hasSubscribers` read per operation.
 */
export const submitChannel = dc.channel('uringkit:op:submit');
/** UK_NO_HOOKS=1 compiles the hook checks out (for bench/nop's hooks-overhead case only). */
export const HOOKS = process.env.UK_NO_HOOKS !== '1';
export const completeChannel = dc.channel('uringkit:op:complete');

export const debug = util.debuglog('uringkit');
