/**
 * waitSignal: await a process signal (SIGINT, SIGTERM, ...) as a promise.
 *
 *   const name = await waitSignal(['SIGINT', 'SIGTERM']);
 *
 * Resolves with the name of the first of `names` the process receives. Its
 * listeners are installed for the wait only and removed when it settles (so a
 * second Ctrl-C after the promise resolved gets Node's default behaviour
 * again, unless you wait again). Aborting `signal` rejects with an AbortError
 * (cause = the signal's reason). While waiting it keeps the event loop alive
 * (Node's own signal listeners do not), unless `ref: false`.
 */
import os from 'node:os';

import { AbortError, invalidArgType, invalidArgValue } from '../errors.js';

export interface WaitSignalOptions {
  signal?: AbortSignal;
  /** Keep the process alive while waiting (default true). */
  ref?: boolean;
}

/** Signals a process can never catch. */
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

function checkNames(names: unknown): NodeJS.Signals[] {
  const list = typeof names === 'string' ? [names] : names;
  if (!Array.isArray(list)) throw invalidArgType('names', 'a signal name or an array of signal names', names);
  if (list.length === 0) throw invalidArgValue('names', list, 'must name at least one signal');
  const known = os.constants.signals as Record<string, number>;
  for (const n of list) {
    if (typeof n !== 'string' || !Object.hasOwn(known, n)) {
      throw Object.assign(new TypeError(`Unknown signal: ${String(n)}`), { code: 'ERR_UNKNOWN_SIGNAL' });
    }
    if (UNCATCHABLE.has(n)) throw invalidArgValue('names', n, 'cannot be caught (SIGKILL and SIGSTOP never reach a process)');
  }
  return [...new Set(list as NodeJS.Signals[])];
}

export function waitSignal(names: NodeJS.Signals | readonly NodeJS.Signals[], options: WaitSignalOptions = {}):
  Promise<NodeJS.Signals> {
  const list = checkNames(names);
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
  if (options.ref !== undefined && typeof options.ref !== 'boolean') {
    throw invalidArgType('options.ref', 'of type boolean', options.ref);
  }
  if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
  return new Promise<NodeJS.Signals>((resolve, reject) => {
    const handlers = new Map<NodeJS.Signals, () => void>();
    // A ref'd timer that never fires: process signal listeners do not keep the loop alive.
    const keepAlive = options.ref === false ? undefined : setInterval(() => {}, 2 ** 31 - 1);
    const cleanup = (): void => {
      for (const [name, h] of handlers) process.removeListener(name, h);
      handlers.clear();
      if (keepAlive !== undefined) clearInterval(keepAlive);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      cleanup();
      reject(new AbortError(undefined, { cause: signal!.reason }));
    };
    for (const name of list) {
      const h = (): void => {
        cleanup();
        resolve(name);
      };
      handlers.set(name, h);
      process.on(name, h);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
