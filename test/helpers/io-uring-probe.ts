/**
 * Can rings use io_uring in this run? Decided once per process in a child
 * process, so asking never creates a ring here (for harness code: the test
 * runner's header line, the seccomp harness's own checks), and it answers
 * where creating a ring would throw (io_uring unavailable, no fallback).
 * Test bodies that need the io_uring backend use needsUring() from
 * test/helpers/backend.ts (the portable backend's change) on their own ring.
 */
import { spawnSync } from 'node:child_process';

import { LIB_URL } from './child.js';

let cached: { reason: string | undefined } | undefined;

const PROBE = `
  const { Ring } = await import(${JSON.stringify(LIB_URL)});
  try {
    const ring = new Ring();
    const backend = ring.info.backend ?? 'io_uring';
    await ring.close();
    console.log(JSON.stringify({ backend }));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e.message), code: e.code }));
  }
`;

/**
 * Undefined when rings run on io_uring here; otherwise the reason, for
 * `test(name, { skip: ioUringSkipReason() }, ...)`: io_uring is unavailable on
 * this machine (seccomp, sysctl, old kernel) and the backend would be io_uring,
 * or the rings run on another backend (UK_BACKEND=node, automatic fallback).
 */
export function ioUringSkipReason(): string | undefined {
  if (cached) return cached.reason;
  if (process.env.UK_BACKEND === 'node' || process.env.UK_BACKEND === 'portable') {
    cached = { reason: `needs the io_uring backend; this run forces the portable one (UK_BACKEND=${process.env.UK_BACKEND})` };
    return cached.reason;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE], { encoding: 'utf8', timeout: 60_000 });
  let answer: { backend?: string; error?: string; code?: string } = {};
  try {
    answer = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as typeof answer;
  } catch {
    answer = { error: `the backend probe failed (status ${r.status ?? r.signal}): ${r.stderr.slice(0, 500)}` };
  }
  if (answer.backend === 'io_uring') cached = { reason: undefined };
  else if (answer.backend !== undefined) cached = { reason: `needs the io_uring backend; rings here run on "${answer.backend}"` };
  else cached = { reason: `needs io_uring, unavailable on this machine: ${answer.code ?? ''} ${answer.error ?? ''}`.trim() };
  return cached.reason;
}

/** For a test that already has its ring: false on io_uring (run the test), else the skip reason. */
export function needsUring(ring: { readonly info: { readonly backend: string } }): string | false {
  const b = ring.info.backend;
  return b === 'io_uring' ? false : `needs the io_uring backend (this ring runs on the ${b} backend)`;
}

/**
 * ioUringSkipReason() prefixed with what the test needs of io_uring (for a
 * test that asserts behaviour the portable backend documents as different,
 * e.g. 'needs a listener whose backlog fills'): undefined on io_uring.
 */
export function skipUnlessIoUring(why: string): string | undefined {
  const reason = ioUringSkipReason();
  return reason === undefined ? undefined : `${why}; ${reason}`;
}

/**
 * Undefined where several workers can share one listening port (SO_REUSEPORT):
 * always on io_uring; on the portable backend only on Node >= 22.12 (its
 * net.Server `reusePort`). Otherwise the reason, for a test that starts
 * `--workers 2` or more.
 */
export function reusePortSkipReason(): string | undefined {
  if (ioUringSkipReason() === undefined) return undefined;
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12) ? undefined
    : `several workers on one port need SO_REUSEPORT, which the portable backend has only on Node >= 22.12 (this is Node ${process.versions.node}); ${ioUringSkipReason()}`;
}
