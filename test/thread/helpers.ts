/** Shared helpers for the thread tests (not a test file). */
import { Worker } from 'node:worker_threads';

import type { Command } from './fixtures/peer.js';

export const PEER = new URL('./fixtures/peer.js', import.meta.url);
/** file:// URL of dist/src/thread/index.js. */
export const THREAD_LIB_URL = new URL('../../src/thread/index.js', import.meta.url).href;
export const FIXTURES = new URL('./fixtures/', import.meta.url);

export type Reply = { cmd: string; ok: boolean; error?: unknown } & Record<string, unknown>;

/** A raw worker running fixtures/peer.js; `call` posts a command and resolves with its reply. */
export class Peer {
  readonly worker: Worker;
  readonly #pending: { resolve: (r: Reply) => void; reject: (e: unknown) => void }[] = [];
  #dead: Error | undefined;

  constructor() {
    this.worker = new Worker(PEER);
    this.worker.on('message', (m: Reply) => this.#pending.shift()?.resolve(m));
    const die = (e: Error): void => {
      this.#dead ??= e;
      for (const p of this.#pending.splice(0)) p.reject(e);
    };
    this.worker.on('error', (e) => die(e));
    this.worker.on('exit', (code) => die(new Error(`peer exited (code ${code})`)));
  }

  /** Resolves with the reply; rejects if the command failed in the worker or the worker died. */
  call(c: Command): Promise<Reply> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.push({
        resolve: (r) => (r.ok ? resolve(r) : reject(r.error)),
        reject,
      });
      this.worker.postMessage(c);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Resolves with `p`'s outcome, or rejects after `ms` (a generous bound against hangs, never a speed check). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
