/**
 * File-descriptor accounting for leak checks: how many fds this process has
 * open, and how many of them are io_uring instances or eventfds.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';

/** Number of open fds of this process (the listing's own fd included, consistently). */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/**
 * The open fds of this process and what each points to. Leak checks compare
 * against a snapshot rather than a count: Node itself may close one of its own
 * fds while a test runs (Node 24 does so lazily after start-up), which a count
 * reads as "one fewer" and could even mask a leak of ours.
 */
export type FdSnapshot = ReadonlyMap<number, string>;

const LISTING = `/proc/${process.pid}/fd`;

export function fdSnapshot(): FdSnapshot {
  const fds = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // closed in between (the listing's own fd)
    }
    if (target !== LISTING) fds.set(Number(name), target);
  }
  return fds;
}

/**
 * Fds open now that were not open at `before` (a new number, or a number
 * reused for something else), as "fd N -> target" strings: [] means nothing
 * was left open. The listing's own fd is not counted.
 */
export function fdsOpenedSince(before: FdSnapshot): string[] {
  const opened: string[] = [];
  for (const [fd, target] of fdSnapshot()) {
    if (before.get(fd) !== target) opened.push(`fd ${fd} -> ${target}`);
  }
  return opened;
}

/** Waits up to `ms` for every fd opened since `before` to close; returns what is still open. */
export async function fdsLeftOpen(before: FdSnapshot, ms = 2_000): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const opened = fdsOpenedSince(before);
    if (opened.length === 0 || Date.now() >= end) return opened;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether `fd` is open in this process (EBADF is the only answer that means closed). */
export function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'EBADF');
    return false;
  }
}

/** Open fds grouped by what they point to ('anon_inode:[io_uring]', 'anon_inode:[eventfd]', 'pipe:', ...). */
export function fdKinds(): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // closed in between (the listing's own fd)
    }
    const kind = target.startsWith('anon_inode:') ? target : target.replace(/\[\d+\]$/, '').replace(/^\/.*/, 'file');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

/** Open io_uring instances of this process. */
export function uringFdCount(): number {
  return fdKinds().get('anon_inode:[io_uring]') ?? 0;
}

/** Open eventfds of this process. */
export function eventFdCount(): number {
  return fdKinds().get('anon_inode:[eventfd]') ?? 0;
}
