/**
 * The worker-thread body of `uringkit serve --workers N`: one StaticServer per
 * worker on the same port (SO_REUSEPORT: the kernel spreads connections over
 * the workers' listeners). It tells the parent it is listening with a
 * ring-to-ring message, and shuts down gracefully when its signal aborts.
 */
import type { WorkerContext } from '../thread/workers.js';
import { StaticServer, type ServeOptions } from './server.js';

/** The message tag a worker sends to the parent ring once it listens (value: its index). */
export const LISTENING_TAG = 0x5e01;

export type WorkerServeOptions = Omit<ServeOptions, 'ring' | 'log'> & { log?: boolean; port: number };

export default async function serveWorker(ctx: WorkerContext<WorkerServeOptions>): Promise<void> {
  const server = StaticServer.start({ ...ctx.data, reusePort: true, ring: ctx.ring });
  if (ctx.parentRing !== null) await ctx.ring.sendMessage(ctx.parentRing, { tag: LISTENING_TAG, value: ctx.index });
  if (!ctx.signal.aborted) await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
  await server.close();
}
