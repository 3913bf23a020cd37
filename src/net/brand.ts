/**
 * Socket identity for the modules socket.ts itself imports (sendfile.ts,
 * stream.ts through receive.ts): they check "is this a Socket" here, so none
 * of them loads socket.ts and the import graph has no cycle.
 */
const sockets = new WeakSet<object>();

/** @internal Called by the Socket constructor. */
export function markSocket(socket: object): void {
  sockets.add(socket);
}

/** Whether `x` was constructed as a Socket. */
export function isSocket(x: unknown): boolean {
  return typeof x === 'object' && x !== null && sockets.has(x);
}
