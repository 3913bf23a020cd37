/** Event-loop helpers. */

/** Resolves on a later loop turn (after the check phase). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves after `n` loop turns. */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn();
}

/** A JS timer (independent of the ring under test). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `cond` until it holds or `timeoutMs` passes; returns whether it held.
 * For "eventually" checks with a generous bound, never for speed.
 */
export async function waitUntil(cond: () => boolean, timeoutMs: number, stepMs = 10): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > end) return cond();
    await delay(stepMs);
  }
}

/** Forces full garbage collections (tests run with --expose-gc). */
export async function collectGarbage(rounds = 3): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') throw new Error('run with --expose-gc');
  for (let i = 0; i < rounds; i++) {
    gc();
    await nextTurn();
  }
}
