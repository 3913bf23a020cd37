/**
 * What every handle of the portable backend (a virtual fd: socket, pipe)
 * shares: its readiness mask and the polls waiting on it.
 */
import util from 'node:util';

import { E, type Op } from './engine.js';

export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLRDHUP = 0x2000;

/** What waits on a handle's readiness (a poll, a splice or pipe write waiting for room or bytes). */
export interface Poller {
  readonly events: number;
  /** Stays registered after firing (multishot poll). */
  readonly multishot: boolean;
  fire(mask: number): void;
  /** The handle was closed. */
  fail(res: number): void;
}

/** The poller of a POLL / POLL_MULTI operation. */
export function pollerOf(op: Op, events: number): Poller {
  return {
    events, multishot: op.multishot,
    fire: (m) => (op.multishot ? op.more(m) : op.complete(m)),
    fail: (res) => op.complete(res),
  };
}

export abstract class Handle {
  fd = -1;
  readonly pollers = new Set<Poller>();
  abstract readonly kindName: string;
  abstract readiness(): number;
  /** Releases the handle's resources (the fd is already unmapped). */
  abstract close(): void;

  /** Completes the polls whose events are now ready. */
  changed(): void {
    if (this.pollers.size === 0) return;
    const mask = this.readiness();
    for (const p of [...this.pollers]) {
      const m = mask & (p.events | POLLERR | POLLHUP);
      if (m === 0) continue;
      if (!p.multishot) this.pollers.delete(p);
      p.fire(m);
    }
  }
}


/**
 * libuv's own handles (tcp_wrap, pipe_wrap, udp_wrap: what net.Server and
 * dgram wrap): the only synchronous bind + listen Node has. undefined where the
 * runtime does not offer them.
 */
export function uvBinding<T>(name: string): T | undefined {
  try {
    return (process as unknown as { binding(n: string): T }).binding(name);
  } catch {
    return undefined;
  }
}

/** A libuv status (negative, libuv's numbering) → negative Linux-style errno. */
export function uvErrno(status: number): number {
  try {
    const n = (E as Record<string, number | undefined>)[util.getSystemErrorName(status)];
    return n !== undefined ? -n : status;
  } catch {
    return -E.EIO;
  }
}

