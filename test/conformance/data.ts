/** Test data and stream helpers shared by the socket suites (conformance and the mock's own). */
import type { Socket } from '../../src/index.js';

/** `n` pseudo-random bytes from `seed` (the same bytes for the same seed). */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Everything `s` yields until EOF. */
export async function readAll(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}
