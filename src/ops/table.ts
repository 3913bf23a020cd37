/**
 * The operation table: one entry per operation, the single place that says
 * what an operation is. Derived from it:
 *  - the engine registry (ids by name: src/ring/registry.ts), registered here;
 *  - `RingOptions.allow` (each entry's `allow` group → its IORING_OP_* numbers);
 *  - `ring.supports(name)` (every IORING_OP an operation needs, probed);
 *  - the per-operation reference docs/operations.md (scripts/gen-operations.ts);
 *  - the mock's operation names, how it names a record, and what its probe
 *    reports (src/testing/operation-names.ts: `name`, `descOp`, `marks`,
 *    `backends.mock`).
 *
 * The issuing function of each entry with a `method` lives in its family
 * module (ops/core.ts, ops/file.ts, ops/socket.ts) and is put on Ring by the
 * one method list, src/ops/methods.ts.
 */
import os from 'node:os';

import { RingClosedError } from '../errors.js';
import { DescOp } from '../backend/protocol.js';
import { recycle, type ProvidedBufferRing } from '../buffer/provided-buffer-ring.js';
import { ALLOW_ALWAYS, IORING_OP } from '../ring/constants.js';
import { registerOp, type OpInfo } from '../ring/registry.js';
import type { Ring } from '../ring/ring.js';

import { parseStatx, type BigIntStats, type Stats } from './statx.js';

export { ALLOW_ALWAYS, IORING_OP };

const { errno: E } = os.constants;

/** How a backend runs an operation: natively, through a fallback path, or not at all. */
export type Support = 'yes' | 'fallback' | 'no';

/** One operation. Engine fields (syscall, shape, ...) are those of OpInfo. */
export interface Operation extends OpInfo {
  /** Unique key: the public method, or the variant (fstat, sendZc, ...). */
  readonly key: string;
  /** The Ring method that issues it (undefined: a variant issued by another method, or internal). */
  readonly method: string | undefined;
  /**
   * The public method through which it is issued: `method`, or for a variant
   * the method that issues it (`fstat`: `statx`); undefined for an internal
   * operation. `ring.supports(issuedBy)` covers its opcodes; a mock handler
   * for that method also answers it.
   */
  readonly issuedBy: string | undefined;
  /** uringkit's record opcode (src/backend/protocol.ts). */
  readonly descOp: DescOp;
  /** IORING_OP_* numbers it may submit (its linked timeout and cancel aside). */
  readonly uringOps: readonly number[];
  /** What the slot keeps alive until the final CQE. */
  readonly pins: string;
  /** The oldest kernel with the io_uring opcode(s). */
  readonly minKernel: string;
  /** Its `RingOptions.allow` group (undefined: not selectable; refused on a restricted ring). */
  readonly allow: string | undefined;
  readonly backends: { readonly uring: Support; readonly portable: Support; readonly mock: Support };
  /**
   * Bits set in the record's arg0/arg1 that tell this entry from another
   * with the same `descOp` (fdatasync: IORING_FSYNC_DATASYNC in arg0). A
   * record is the entry whose marks are all set, the most specific first.
   */
  readonly marks?: { readonly arg0?: number; readonly arg1?: number } | undefined;
  /** One line for the reference table. */
  readonly note?: string | undefined;
}

const O = IORING_OP;

const IORING_CQE_BUFFER_SHIFT = 16;
const ident = (res: number): number => res;
/** The statx pin: [path, out buffer, bigint?]. */
function shapeStat(_res: number, pin: unknown): Stats | BigIntStats {
  const p = pin as [Buffer, Buffer, boolean];
  return parseStatx(p[1], p[2]);
}
/** A multishot recv chunk (pin = [ring, provided-buffer ring]): copy the bytes out, hand the buffer back. */
function shapeRecvChunk(res: number, flags: number, pin: unknown): Buffer {
  const [ring, pbr] = pin as [Ring, ProvidedBufferRing];
  if ((flags & 1) === 0) return Buffer.alloc(0); // IORING_CQE_F_BUFFER unset: no data (EOF)
  const bid = flags >>> IORING_CQE_BUFFER_SHIFT;
  const out = Buffer.allocUnsafe(res);
  out.set(new Uint8Array(pbr.memory, bid * pbr.size, res));
  recycle(ring, pbr, bid);
  return out;
}

const ALL = { uring: 'yes', portable: 'yes', mock: 'yes' } as const;
/** The mock has no model: it answers ENOSYS (naming the operation) unless a test gives it a handler. */
const NO_MOCK = { uring: 'yes', portable: 'yes', mock: 'no' } as const;
/** Record bits that tell entries sharing a DescOp apart (`marks`). */
const IORING_FSYNC_DATASYNC = 1;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;

type Entry = Omit<Operation, 'key' | 'method' | 'issuedBy'> & { key?: string; method?: string | null; issuedBy?: string };

/** An entry; its `name` keeps its literal type, so OperationName is the union of the table's names. */
function op<const N extends string>(e: Entry & { readonly name: N }): Operation & { readonly name: N } {
  const key = e.key ?? e.name;
  const method = e.method === null ? undefined : (e.method ?? key);
  return { ...e, key, method, issuedBy: method ?? e.issuedBy };
}

/** Every operation. Order is presentation only (docs); ids come from registration by key. */
export const OPERATIONS = [
  // ---- ring core
  op({ name: 'nop', syscall: 'nop', descOp: DescOp.NOP, uringOps: [O.NOP], pins: '—', minKernel: '5.1', allow: 'nop',
    backends: ALL, note: 'completes with nothing: measures the ring itself' }),
  op({ name: 'sleep', syscall: 'timeout', descOp: DescOp.TIMEOUT, uringOps: [O.TIMEOUT], pins: '—', minKernel: '5.4',
    allow: 'sleep', backends: ALL, okResult: -E.ETIME, note: 'a kernel timer, no JS timer' }),
  op({ name: 'poll', syscall: 'poll', descOp: DescOp.POLL, uringOps: [O.POLL_ADD], pins: '—', minKernel: '5.1',
    allow: 'poll', backends: ALL, shape: ident }),
  op({ name: 'pollMultishot', syscall: 'poll', descOp: DescOp.POLL_MULTI, uringOps: [O.POLL_ADD], pins: '—',
    minKernel: '5.13', allow: 'pollMultishot', backends: ALL, shape: ident, note: 'multishot: an async iterator' }),
  op({ name: 'closeFd', syscall: 'close', descOp: DescOp.CLOSE, uringOps: [O.CLOSE], pins: '—', minKernel: '5.6',
    allow: 'closeFd', backends: ALL }),
  op({
    name: 'sendMessage', syscall: 'msg_ring', descOp: DescOp.MSG_RING, uringOps: [O.MSG_RING], pins: '—',
    minKernel: '5.18', allow: 'message', backends: ALL, note: 'ring-to-ring message { tag, value }',
    // EBADFD: the target id names no live ring (closed, or another process's).
    mapError: (res) => (res === -77
      ? new RingClosedError('sendMessage (the target ring is closed or belongs to another process)') : undefined),
  }),
  // ---- files
  op({ name: 'open', syscall: 'open', descOp: DescOp.OPENAT, uringOps: [O.OPENAT, O.CLOSE], pins: 'path',
    minKernel: '5.6', allow: 'open', backends: ALL, shape: ident, resultIsFd: true, forceAsync: true,
    note: 'O_CLOEXEC always; an fd that arrives after an abort is closed (CLOSE)' }),
  op({ name: 'openat2', syscall: 'openat2', descOp: DescOp.OPENAT2, uringOps: [O.OPENAT2, O.CLOSE],
    pins: 'path; struct open_how in per-slot native memory', minKernel: '5.6', allow: 'openat2',
    backends: { uring: 'yes', portable: 'no', mock: 'no' }, shape: ident, resultIsFd: true, forceAsync: true,
    note: 'resolve flags (RESOLVE_BENEATH, ...); O_CLOEXEC always' }),
  op({ name: 'read', syscall: 'read', descOp: DescOp.READ, uringOps: [O.READ, O.READ_FIXED], pins: 'buffer',
    minKernel: '5.6', allow: 'read', backends: ALL, shape: ident, note: 'READ_FIXED for a registered BufferPool buffer' }),
  op({ name: 'write', syscall: 'write', descOp: DescOp.WRITE, uringOps: [O.WRITE, O.WRITE_FIXED], pins: 'buffer',
    minKernel: '5.6', allow: 'write', backends: ALL, shape: ident, note: 'WRITE_FIXED for a registered BufferPool buffer' }),
  op({ name: 'readv', syscall: 'read', descOp: DescOp.READV, uringOps: [O.READV], pins: 'buffers, iovec array',
    minKernel: '5.1', allow: 'readv', backends: ALL, shape: ident }),
  op({ name: 'writev', syscall: 'write', descOp: DescOp.WRITEV, uringOps: [O.WRITEV], pins: 'buffers, iovec array',
    minKernel: '5.1', allow: 'writev', backends: ALL, shape: ident }),
  op({ name: 'fsync', syscall: 'fsync', descOp: DescOp.FSYNC, uringOps: [O.FSYNC], pins: '—', minKernel: '5.1',
    allow: 'fsync', backends: ALL, forceAsync: true }),
  op({ name: 'fdatasync', syscall: 'fdatasync', descOp: DescOp.FSYNC, uringOps: [O.FSYNC], pins: '—',
    minKernel: '5.1', allow: 'fdatasync', backends: ALL, forceAsync: true, marks: { arg0: IORING_FSYNC_DATASYNC } }),
  op({ name: 'fallocate', syscall: 'fallocate', descOp: DescOp.FALLOCATE, uringOps: [O.FALLOCATE], pins: '—',
    minKernel: '5.6', allow: 'fallocate', backends: ALL, forceAsync: true }),
  op({ name: 'fadvise', syscall: 'fadvise', descOp: DescOp.FADVISE, uringOps: [O.FADVISE], pins: '—',
    minKernel: '5.6', allow: 'fadvise', backends: ALL, forceAsync: true,
    note: 'WILLNEED/DONTNEED/NOREUSE are forced onto io-wq by the kernel' }),
  op({ name: 'ftruncate', syscall: 'ftruncate', descOp: DescOp.FTRUNCATE, uringOps: [O.FTRUNCATE], pins: '—',
    minKernel: '6.9', allow: 'ftruncate', backends: { uring: 'fallback', portable: 'yes', mock: 'yes' },
    forceAsync: true, note: 'before 6.9: libuv\'s thread pool' }),
  op({ name: 'syncFileRange', syscall: 'sync_file_range', descOp: DescOp.SYNC_FILE_RANGE, uringOps: [O.SYNC_FILE_RANGE],
    pins: '—', minKernel: '5.2', allow: 'syncFileRange', backends: { uring: 'yes', portable: 'fallback', mock: 'no' },
    forceAsync: true, note: 'portable: fdatasync(2) of the whole file (node:fs has no sync_file_range)' }),
  op({ name: 'statx', syscall: 'stat', descOp: DescOp.STATX, uringOps: [O.STATX], pins: 'path, statx buffer',
    minKernel: '5.6', allow: 'statx', backends: ALL, shape: shapeStat, forceAsync: true }),
  op({ key: 'fstat', method: null, name: 'fstat', syscall: 'fstat', descOp: DescOp.STATX, uringOps: [O.STATX],
    pins: 'statx buffer', minKernel: '5.6', allow: 'statx', backends: ALL, shape: shapeStat, forceAsync: true,
    marks: { arg0: AT_EMPTY_PATH }, issuedBy: 'statx', note: 'ring.statx(fd)' }),
  op({ key: 'lstat', method: null, name: 'lstat', syscall: 'lstat', descOp: DescOp.STATX, uringOps: [O.STATX],
    pins: 'path, statx buffer', minKernel: '5.6', allow: 'statx', backends: ALL, shape: shapeStat, forceAsync: true,
    marks: { arg0: AT_SYMLINK_NOFOLLOW }, issuedBy: 'statx', note: 'ring.statx(path, { followSymlinks: false })' }),
  op({ name: 'unlink', syscall: 'unlink', descOp: DescOp.UNLINKAT, uringOps: [O.UNLINKAT], pins: 'path',
    minKernel: '5.11', allow: 'unlink', backends: ALL, forceAsync: true }),
  op({ name: 'rmdir', syscall: 'rmdir', descOp: DescOp.UNLINKAT, uringOps: [O.UNLINKAT], pins: 'path',
    minKernel: '5.11', allow: 'rmdir', backends: ALL, forceAsync: true, marks: { arg0: AT_REMOVEDIR } }),
  op({ name: 'mkdir', syscall: 'mkdir', descOp: DescOp.MKDIRAT, uringOps: [O.MKDIRAT], pins: 'path',
    minKernel: '5.15', allow: 'mkdir', backends: ALL, forceAsync: true }),
  op({ name: 'rename', syscall: 'rename', descOp: DescOp.RENAMEAT, uringOps: [O.RENAMEAT], pins: 'two paths',
    minKernel: '5.11', allow: 'rename', backends: ALL, forceAsync: true }),
  op({ name: 'symlink', syscall: 'symlink', descOp: DescOp.SYMLINKAT, uringOps: [O.SYMLINKAT], pins: 'two paths',
    minKernel: '5.15', allow: 'symlink', backends: ALL, forceAsync: true }),
  op({ name: 'link', syscall: 'link', descOp: DescOp.LINKAT, uringOps: [O.LINKAT], pins: 'two paths',
    minKernel: '5.15', allow: 'link', backends: ALL, forceAsync: true }),
  op({ name: 'splice', syscall: 'splice', descOp: DescOp.SPLICE, uringOps: [O.SPLICE], pins: '—', minKernel: '5.7',
    allow: 'splice', backends: NO_MOCK, shape: ident, forceAsync: true,
    note: 'always on io-wq, where it may block indefinitely (a full socket, an empty pipe)' }),
  op({ key: 'unregisterFile', method: null, name: 'unregisterFile', syscall: 'io_uring_register',
    descOp: DescOp.FILES_UPDATE, uringOps: [O.FILES_UPDATE], pins: 'fd array', minKernel: '5.6', allow: undefined,
    backends: { uring: 'yes', portable: 'no', mock: 'no' }, shape: ident,
    note: 'clears a registered-file table index (File.close)' }),
  // ---- sockets
  op({ name: 'accept', syscall: 'accept', descOp: DescOp.ACCEPT, uringOps: [O.ACCEPT, O.CLOSE], pins: '—',
    minKernel: '5.5', allow: 'accept', backends: ALL, shape: ident, resultIsFd: true }),
  op({ name: 'acceptMultishot', syscall: 'accept', descOp: DescOp.ACCEPT, uringOps: [O.ACCEPT, O.CLOSE], pins: '—',
    minKernel: '5.19', allow: 'accept', backends: ALL, shape: ident, marks: { arg1: 1 },
    note: 'multishot: an async iterator' }),
  op({ name: 'connect', syscall: 'connect', descOp: DescOp.CONNECT, uringOps: [O.CONNECT], pins: 'sockaddr',
    minKernel: '5.5', allow: 'connect', backends: ALL }),
  op({ name: 'send', syscall: 'send', descOp: DescOp.SEND, uringOps: [O.SEND, O.SEND_ZC], pins: 'buffer',
    minKernel: '5.6', allow: 'send', backends: ALL, shape: ident, note: 'MSG_NOSIGNAL always; SEND_ZC on request (6.0+)' }),
  op({ key: 'sendZc', method: null, name: 'sendZc', syscall: 'send', descOp: DescOp.SEND_ZC, uringOps: [O.SEND_ZC],
    pins: 'buffer until the notification CQE', minKernel: '6.0', allow: 'send', backends: NO_MOCK, shape: ident,
    issuedBy: 'send', note: 'ring.send(fd, data, { zeroCopy: true })' }),
  // SEND_ZC reporting both of its CQEs (ops/socket.ts sendZeroCopy): started as a
  // multishot so that the result (F_MORE) and the notification each reach the callback.
  op({ key: 'sendZcNotify', method: null, name: 'sendZc', syscall: 'send', descOp: DescOp.SEND_ZC,
    uringOps: [O.SEND_ZC], pins: 'buffer until the notification CQE', minKernel: '6.0', allow: 'send',
    backends: NO_MOCK, shapeMore: ident, note: 'Socket zero-copy writes (both CQEs)' }),
  op({ name: 'recv', syscall: 'recv', descOp: DescOp.RECV, uringOps: [O.RECV], pins: 'buffer', minKernel: '5.6',
    allow: 'recv', backends: ALL, shape: ident }),
  op({ name: 'recvMultishot', syscall: 'recv', descOp: DescOp.RECV_MULTI, uringOps: [O.RECV], pins: 'provided-buffer ring',
    minKernel: '6.0', allow: 'recv', backends: NO_MOCK, shapeMore: shapeRecvChunk,
    note: 'into the ring\'s ProvidedBufferRing; chunks are copied out' }),
  op({ name: 'sendmsg', syscall: 'sendmsg', descOp: DescOp.SENDMSG, uringOps: [O.SENDMSG],
    pins: 'buffer, sockaddr, msghdr', minKernel: '5.3', allow: 'sendmsg', backends: ALL, shape: ident }),
  op({ name: 'recvmsg', syscall: 'recvmsg', descOp: DescOp.RECVMSG, uringOps: [O.RECVMSG],
    pins: 'buffer, sockaddr out, msghdr', minKernel: '5.3', allow: 'recvmsg', backends: ALL, shape: ident }),
  op({ name: 'shutdown', syscall: 'shutdown', descOp: DescOp.SHUTDOWN, uringOps: [O.SHUTDOWN], pins: '—',
    minKernel: '5.11', allow: 'shutdown', backends: ALL }),
] as const satisfies readonly Operation[];

/** Every operation's public name (the mock's operation names: `mock.handle(name, ...)`). */
export type OperationName = (typeof OPERATIONS)[number]['name'];

/** Engine ids by key, registered here, once, in one loop (OPERATIONS order). */
const registered = new Map<string, number>();
for (const o of OPERATIONS) {
  if (registered.has(o.key)) throw new Error(`OPERATIONS: duplicate key '${o.key}'`);
  registered.set(o.key, registerOp(o, o.key, { method: o.issuedBy, allow: o.allow, opcodes: o.uringOps }));
}
function id(key: string): number {
  const v = registered.get(key);
  if (v === undefined) throw new Error(`OP.${key}: no such key in OPERATIONS`);
  return v;
}

/**
 * Engine ids by key (`OP.read`). An object literal with every key spelled
 * out, frozen: it keeps fast properties (a fixed shape, not the dictionary
 * mode Object.fromEntries gives a 40-key object), so the issuing functions'
 * `OP.<key>` loads are constant-foldable. A key missing here, or here but not in
 * OPERATIONS, throws at module load.
 */
export const OP = Object.freeze({
  nop: id('nop'), sleep: id('sleep'), poll: id('poll'), pollMultishot: id('pollMultishot'), closeFd: id('closeFd'),
  sendMessage: id('sendMessage'), open: id('open'), openat2: id('openat2'), read: id('read'), write: id('write'),
  readv: id('readv'), writev: id('writev'), fsync: id('fsync'), fdatasync: id('fdatasync'),
  fallocate: id('fallocate'), fadvise: id('fadvise'), ftruncate: id('ftruncate'), syncFileRange: id('syncFileRange'), statx: id('statx'),
  fstat: id('fstat'), lstat: id('lstat'), unlink: id('unlink'), rmdir: id('rmdir'), mkdir: id('mkdir'),
  rename: id('rename'), symlink: id('symlink'), link: id('link'), splice: id('splice'),
  unregisterFile: id('unregisterFile'), accept: id('accept'), acceptMultishot: id('acceptMultishot'),
  connect: id('connect'), send: id('send'), sendZc: id('sendZc'), sendZcNotify: id('sendZcNotify'), recv: id('recv'),
  recvMultishot: id('recvMultishot'), sendmsg: id('sendmsg'), recvmsg: id('recvmsg'), shutdown: id('shutdown'),
});
if (Object.keys(OP).length !== registered.size) {
  throw new Error(`OP: ${[...registered.keys()].filter((k) => !(k in OP)).join(', ')} missing from the literal`);
}

/** The entry of a public method (its main form). */
export function operation(method: string): Operation | undefined {
  return OPERATIONS.find((o) => o.method === method);
}
