/**
 * uringkit: async I/O for Node.js on Linux io_uring.
 */
export { Ring } from './ops/methods.js';
export { MultishotIterator, setDefaultBackend, submitChannel, completeChannel } from './ring/ring.js';
export type { RingLogger, RingHandle, RingMessage } from './ring/ring.js';
export type { Backend, BackendHandle } from './backend/backend.js';
export { PortableBackend, portableBackend } from './backend/portable/index.js';
export type { BackendChoice, BackendName } from './backend/select.js';
export { DEFAULT_MAX_IO_WORKERS, MIN_RETRY_ENTRIES } from './ring/ring.js';
export type { MaxIoWorkers } from './ring/ring.js';
export type { RingOptions, RingStats, RingInfo, Callback, OpOptions } from './ring/ring.js';
export {
  AbortError, RingClosedError, StaleCredentialsError, SystemError, TimeoutError, UnsupportedOperationError, UringUnavailableError,
} from './errors.js';
export type { SystemErrorContext } from './errors.js';
export { nativeBinding, setNativeBinding } from './backend/uring/binding.js';
export type { NativeBinding, NativeHandle } from './backend/uring/binding.js';
export { POLL } from './ops/poll.js';
export { IoBuffer, IoBufferPinnedError } from './buffer/io-buffer.js';
export type { IoBufferOptions } from './buffer/io-buffer.js';
export { TaskGroup, TaskGroupClosedError } from './task/task-group.js';
export type { TaskGroupOptions, JoinOptions, TaskFn } from './task/task-group.js';
export { AT_FDCWD, parseOpenFlags, RESOLVE } from './ops/file.js';
export { OPERATIONS } from './ops/table.js';
export type { Operation, Support } from './ops/table.js';
export type {
  PathLike, OpenFlags, OpenHow, ReadOptions, WriteOptions, VectorOptions, StatOptions, MkdirOptions, FallocateOptions,
  SyncFileRangeOptions,
} from './ops/file.js';
export { Stats, BigIntStats } from './fs/stats.js';
export { File, readFile, writeFile, copyFile } from './fs/whole-file.js';
export type { FileOpenOptions, ReadFileOptions, WriteFileOptions } from './fs/whole-file.js';
export { BufferPool } from './fs/registered.js';
export type { BufferPoolOptions, BufferPoolStats, FileTableStats } from './fs/registered.js';
export { SocketAddress } from './net/address.js';
export type { AddressFamily, HostPortTarget, SocketAddressInit, UnixPathTarget } from './net/address.js';
export { Socket } from './net/socket.js';
export type { SocketOptions, ConnectOptions } from './net/socket.js';
export { TcpListener, UnixListener } from './net/listener.js';
export type { ListenOptions } from './net/listener.js';
export type { SendOptions, RecvOptions } from './ops/socket.js';
export { UdpSocket } from './net/udp.js';
export type { UdpBindOptions, Datagram } from './net/udp.js';
export {
  Notifier, NotifierClosedError, Channel, ChannelClosedError, startWorkers, allowedCpus, offload, createOffloadPool,
  OffloadPool, waitSignal,
} from './thread/index.js';
export type {
  NotifierHandle, ChannelHandle, ChannelOptions, StartWorkersOptions, StopOptions, StopResult, WorkerContext, WorkerInfo,
  WorkerMain, Workers, WorkerStats, OffloadPoolOptions, OffloadRunOptions, OffloadTask, WaitSignalOptions,
} from './thread/index.js';
export {
  sendFile, sendFilePoolSize, drainSendFilePipes, reserveSendFilePipe, SendFilePipe, SENDFILE_PIPE_SIZE, SENDFILE_POOL_MAX,
} from './net/sendfile.js';
export type { SendFileOptions } from './net/sendfile.js';
export { connect, DEFAULT_ATTEMPT_DELAY } from './net/connect.js';
export type { ConnectTargetOptions, HostConnectOptions, LookupFunction, LookupAddress } from './net/connect.js';
export { socketStream, SocketStream } from './net/stream.js';
export type { SocketStreamOptions } from './net/stream.js';
export { connectTls } from './net/tls.js';
export type { TlsConnectOptions } from './net/tls.js';
