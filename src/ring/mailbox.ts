/**
 * The mailbox of a ring: ring-to-ring messages (IORING_OP_MSG_RING CQEs)
 * queued for one consumer (`ring.messages()`), and the handlers of reserved
 * tags (Notifier, Channel). Ring hands it each message CQE (`deliver`).
 */
import { invalidArgType } from '../errors.js';
import { RESERVED_TAG, type RingMessage } from './options.js';

const RESOLVED = Promise.resolve();

export class Mailbox {
  readonly #id: number;
  readonly #hold: (on: boolean) => void;
  readonly #isClosing: () => boolean;
  #messages: RingMessage[] = [];
  #head = 0;
  #waiter: ((r: IteratorResult<RingMessage>) => void) | undefined;
  #waiterRef = false;
  #waiterBatch = false;
  #batchScheduled = false;
  #dropped = 0;
  #received = 0;
  readonly #tags = new Map<number, (value: number) => void>();

  /**
   * `id`: the ring's registry id (messages for another id are dropped);
   * `hold(on)`: keeps the loop alive while a consumer waits; `isClosing`: no
   * new waits once the ring closes.
   */
  constructor(id: number, hold: (on: boolean) => void, isClosing: () => boolean) {
    this.#id = id;
    this.#hold = hold;
    this.#isClosing = isClosing;
  }

  /** Sets (or with undefined removes) the handler of a reserved tag. */
  onTag(tag: number, handler: ((value: number) => void) | undefined): void {
    if (handler === undefined) this.#tags.delete(tag);
    else this.#tags.set(tag, handler);
  }

  /** The ring is closing: a waiting consumer ends. */
  close(): void {
    this.#release({ value: undefined, done: true });
  }

  /** ring.messages(options). */
  iterate(options?: { batch?: boolean }): AsyncIterableIterator<RingMessage> | AsyncIterableIterator<RingMessage[]> {
    const self = this;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
      if (options.batch !== undefined && typeof options.batch !== 'boolean') {
        throw invalidArgType('options.batch', 'of type boolean', options.batch);
      }
    }
    if (options?.batch === true) {
      const batches: AsyncIterableIterator<RingMessage[]> = {
        next(): Promise<IteratorResult<RingMessage[]>> {
          return self.#nextBatch();
        },
        return(): Promise<IteratorResult<RingMessage[]>> {
          self.#release({ value: undefined, done: true });
          return Promise.resolve({ value: undefined, done: true });
        },
        [Symbol.asyncIterator]() {
          return batches;
        },
      };
      return batches;
    }
    const single: AsyncIterableIterator<RingMessage> = {
      next(): Promise<IteratorResult<RingMessage>> {
        return self.#nextMessage();
      },
      return(): Promise<IteratorResult<RingMessage>> {
        self.#release({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return single;
      },
    };
    return single;
  }

  /** Counts of messages received and dropped (addressed to a previous ring that had this fd). */
  stats(): { received: number; dropped: number; queued: number } {
    return {
      received: this.#received, dropped: this.#dropped,
      queued: this.#messages.length - this.#head,
    };
  }

  #nextMessage(): Promise<IteratorResult<RingMessage>> {
    if (this.#head < this.#messages.length) {
      const m = this.#messages[this.#head++]!;
      if (this.#head === this.#messages.length) {
        this.#messages.length = 0;
        this.#head = 0;
      }
      return Promise.resolve({ value: m, done: false });
    }
    if (this.#isClosing()) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== undefined) return Promise.reject(new Error('messages() already has a pending next()'));
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#waiterRef = true;
      this.#hold(true);
    });
  }

  /** Takes every queued message (the batch form). */
  #takeBatch(): RingMessage[] {
    const q = this.#messages;
    const out = this.#head === 0 ? q : q.slice(this.#head);
    this.#messages = [];
    this.#head = 0;
    return out;
  }

  #nextBatch(): Promise<IteratorResult<RingMessage[]>> {
    if (this.#head < this.#messages.length) return Promise.resolve({ value: this.#takeBatch(), done: false });
    if (this.#isClosing()) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== undefined) return Promise.reject(new Error('messages() already has a pending next()'));
    return new Promise((resolve) => {
      this.#waiter = resolve as (r: IteratorResult<RingMessage>) => void;
      this.#waiterBatch = true;
      this.#waiterRef = true;
      this.#hold(true);
    });
  }

  /** Microtask after the messages of one reap were queued: hands them to a waiting batch consumer. */
  readonly #deliverBatch = (): void => {
    this.#batchScheduled = false;
    if (this.#waiter !== undefined && this.#waiterBatch && this.#head < this.#messages.length) {
      this.#release({ value: this.#takeBatch() as unknown as RingMessage, done: false });
    }
  };

  #release(r: IteratorResult<RingMessage>): void {
    const w = this.#waiter;
    if (w === undefined) return;
    this.#waiter = undefined;
    this.#waiterBatch = false;
    if (this.#waiterRef) {
      this.#waiterRef = false;
      this.#hold(false);
    }
    w(r);
  }

  /** A message CQE (hi: the target's id low 16 bits << 16 | tag). */
  deliver(hi: number, value: number): void {
    if (hi >>> 16 !== (this.#id & 0xffff)) {
      this.#dropped++;
      return;
    }
    const tag = hi & 0xffff;
    this.#received++;
    if (tag >= RESERVED_TAG) {
      const handler = this.#tags.get(tag);
      if (handler !== undefined) handler(value);
      return;
    }
    if (this.#waiter === undefined) this.#messages.push({ tag, value });
    else if (!this.#waiterBatch) this.#release({ value: { tag, value }, done: false });
    else {
      // Batch consumer: collect this reap's messages, deliver them in one go.
      this.#messages.push({ tag, value });
      if (!this.#batchScheduled) {
        this.#batchScheduled = true;
        void RESOLVED.then(this.#deliverBatch);
      }
    }
  }
}
