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
