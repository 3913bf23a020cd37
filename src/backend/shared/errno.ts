/**
 * errno names and numbers (Linux values from node:os), shared by the mock and
 * the portable backend: nothing here may import a backend module.
 */
import os from 'node:os';
import util from 'node:util';

export const E = os.constants.errno;

/** EBADFD (77): a ring id no live ring has (not in os.constants.errno). */
export const EBADFD = 77;

const errnoMap = util.getSystemErrorMap();

/** 'EIO' | 5 | -5 → 5 (positive). Throws a TypeError for an unknown name. */
export function errnoNumber(e: string | number, what = 'errno'): number {
  if (typeof e === 'number') {
    if (!Number.isInteger(e) || e === 0) throw new RangeError(`${what}: expected a non-zero errno number, received ${e}`);
    return Math.abs(e);
  }
  const n = (E as Record<string, number | undefined>)[e];
  if (typeof n !== 'number') throw new TypeError(`${what}: unknown errno name '${e}'`);
  return n;
}

/** -2 → 'ENOENT' (or the number as a string). */
export function errnoName(res: number): string {
  return errnoMap.get(res > 0 ? -res : res)?.[0] ?? String(res);
}
