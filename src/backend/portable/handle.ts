/**
 * What every handle of the portable backend (a virtual fd: socket, pipe)
 * shares: its readiness mask and the polls waiting on it.
 */
import type { Op } from './engine.js';

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

