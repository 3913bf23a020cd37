/**
 * guard(): the abort + deadline wiring of an operation made of several steps
 * (connect(): DNS and attempts; connectTls(): connect and the handshake).
 * One place, so both report the same errors: an AbortError whose `cause` is
 * the signal's reason, or a TimeoutError (code 'ETIMEDOUT', syscall
 * 'connect', with address and port).
 */
import { AbortError, TimeoutError } from '../errors.js';

export interface GuardOptions {
  signal?: AbortSignal | undefined;
  /** The operation's whole deadline in ms (named in the error). */
  timeout?: number | undefined;
  /** Time already spent of `timeout` (a later step of the same operation), in ms. */
  elapsed?: number;
  address: string;
  port: number;
}

/**
 * Calls `fail` at most once: at once when `signal` is already aborted, when
 * it aborts, or when the deadline passes. Returns the release function
 * (clears the timer and the listener; call it when the operation settles).
 */
export function guard(fail: (err: Error) => void, o: GuardOptions): () => void {
  const { signal, timeout } = o;
  let timer: NodeJS.Timeout | undefined;
  let released = false;
  const onAbort = (): void => {
    release();
    fail(new AbortError('The operation was aborted', { cause: signal!.reason }));
  };
  function release(): void {
    if (released) return;
    released = true;
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) {
    onAbort();
    return release;
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  if (timeout !== undefined) {
    timer = setTimeout(() => {
      release();
      fail(new TimeoutError('connect', timeout, { address: o.address, port: o.port }));
    }, Math.max(0, timeout - (o.elapsed ?? 0)));
  }
  return release;
}
