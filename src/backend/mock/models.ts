/**
 * The mock's built-in models: what an operation does when no handler
 * replaces it. Files and directories run on the in-memory file system
 * (fs.ts), sockets and pipes on in-memory sockets (net.ts), poll on the fd
 * table's readiness masks, sleeps on the mock clock, MSG_RING on the
 * engine's ring registry. The fd table (fds.ts) is shared by all of them.
 */
import { constants as fsc } from 'node:fs';

import { DescOp } from '../protocol.js';
import type { MockClockImpl } from './clock.js';
import type { MockEngine } from './engine.js';
import { E } from '../shared/errno.js';
import { FILE_READY, type FdEntry, type FdTable } from './fds.js';
import type { Inode, MockFs } from './fs.js';
import { MockNet } from './net.js';
import { PENDING as NET_PENDING, type MockSocket, type NetWaiter } from './socket.js';
import type { Op, PollWaiter } from './ring.js';
import { bytesOfAddr } from '../shared/sockaddr.js';

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;
/** POLLERR | POLLHUP | POLLNVAL: reported whatever was asked. */
const POLL_ALWAYS = 0x008 | 0x010 | 0x020;

/** A model's answer when the operation completes later (timer, poll, ...). */
export const PENDING = Symbol('pending');
/** A result, PENDING, or `{ noModel }`: there is no built-in model for this operation (or fd kind). */
export type ModelResult = number | typeof PENDING | { noModel: string };

/** The file operations the in-memory file system models. */
function isFileOp(code: DescOp): boolean {
  return code <= DescOp.FTRUNCATE;
}

/** The socket operations the in-memory sockets model (some only with a handler: recvMultishot, sendZc). */
function isSocketOp(code: DescOp): boolean {
  return code >= DescOp.ACCEPT && code <= DescOp.SHUTDOWN;
}

export class MockModels {
  readonly net: MockNet;
  readonly #fds: FdTable;
  readonly #fs: MockFs;
  readonly #fsModel: boolean;
  readonly #clock: MockClockImpl;
  readonly #engine: MockEngine;

  constructor(fds: FdTable, fs: MockFs, fsModel: boolean, clock: MockClockImpl, engine: MockEngine) {
    this.#fds = fds;
    this.#fs = fs;
    this.#fsModel = fsModel;
    this.#clock = clock;
    this.#engine = engine;
    this.net = new MockNet({
      openFd: (sock, origin) => this.openSocket(sock, origin),
      changed: (sock) => this.#socketChanged(sock),
    });
    this.net.writeAddr = (a, out) => {
      const b = bytesOfAddr(a);
      out.set(b.subarray(0, Math.min(b.length, out.length)));
    };
  }

  // ---- fds ------------------------------------------------------------------------------------

  /** Puts an in-memory socket or pipe end in the fd table; returns its fd. */
  openSocket(sock: MockSocket, origin: string): number {
    const e = this.#fds.open(sock.type === 'pipe' ? 'pipe' : 'socket', '', fsc.O_RDWR, undefined, 0, 0);
    e.sock = sock;
    e.origin = origin;
    sock.fd = e.fd;
    e.ready = this.net.readiness(sock);
    this.#engine.touch();
    return e.fd;
  }

  #socketChanged(sock: MockSocket): void {
    const e = this.#fds.get(sock.fd);
    if (e === undefined || e.sock !== sock) return;
    const mask = this.net.readiness(sock);
    if (mask !== e.ready) this.setReady(e, mask);
  }

  /** Closes an fd (a socket also closes its end of the connection). Returns whether it was open. */
  closeFd(fd: number): boolean {
    const e = this.#fds.close(fd);
    if (e === undefined) return false;
    if (e.sock !== undefined) {
      e.sock.fd = -1;
      this.net.close(e.sock);
    }
    return true;
  }

  /** What an fd is, for leak reports and describe(). */
  label(e: FdEntry): string {
    return e.sock !== undefined ? e.sock.describe() : e.path;
  }

  /** An injected ECONNRESET: resets the connection of the socket on `fd`, if it is one. */
  reset(fd: number): void {
    const sock = this.#fds.get(fd)?.sock;
    if (sock !== undefined) this.net.reset(sock);
  }

  /** Sets the readiness mask of an fd and completes the polls it satisfies. */
  setReady(e: FdEntry, mask: number): void {
    e.ready = mask;
    for (const w of [...e.pollers] as PollWaiter[]) {
      const m = mask & (w.events | POLL_ALWAYS);
      if (m === 0) continue;
      if (w.multishot) this.#engine.emit(w.op, m);
      else {
        e.pollers.delete(w);
        w.fire(m);
      }
    }
  }

  // ---- the models -------------------------------------------------------------------------------

  /** The built-in model: a result, PENDING (finish() is called later) or { noModel }. */
  run(op: Op, finish: (res: number) => void): ModelResult {
    const req = op.req;
    switch (op.code) {
      case DescOp.NOP:
        return 0;
      case DescOp.TIMEOUT:
        op.timer = this.#clock.schedule(req.ms, () => {
          op.timer = undefined;
          finish(-E.ETIME);
        });
        return PENDING;
      case DescOp.POLL:
      case DescOp.POLL_MULTI:
        return this.#poll(op, finish);
      case DescOp.CLOSE: {
        const e = this.#fds.get(req.fd);
        if (!this.#fsModel && (e === undefined || e.sock === undefined)) return { noModel: 'the file system model is off' };
        return this.closeFd(req.fd) ? 0 : -E.EBADF;
      }
      case DescOp.SPLICE:
        return { noModel: 'splice has no built-in model' };
      case DescOp.MSG_RING: {
        const m = req.message!;
        return this.#engine.sendMessage(m.target, m.hi, m.value);
      }
      default:
        break;
    }
    // Anything else the table has but the mock does not model (openat2, ...): no model, whatever its name.
    if (!isFileOp(op.code) && !isSocketOp(op.code)) return { noModel: `${req.op} has no built-in model` };
    if (!isFileOp(op.code) || op.code === DescOp.READ || op.code === DescOp.WRITE) {
      const e = this.#fds.get(req.fd);
      if (e?.sock !== undefined) return this.#socketOp(op, e.sock, finish);
      if (!isFileOp(op.code)) {
        if (op.code === DescOp.SEND_ZC || op.code === DescOp.RECV_MULTI) return { noModel: `${req.op} has no built-in model` };
        if (e === undefined) return -E.EBADF;
        // A pollable stands in for a socket the test models with handlers.
        if (e.kind === 'pollable') return { noModel: `fd ${e.fd} is a pollable fd, not a mock socket` };
        return -E.ENOTSOCK;
      }
    }
    if (!this.#fsModel) return { noModel: 'the file system model is off' };
    return this.#fileOp(op);
  }

  #fileOp(op: Op): ModelResult {
    const req = op.req;
    const fs = this.#fs;
    switch (op.code) {
      case DescOp.OPENAT: {
        const node = fs.sysOpen(req.path!, req.flags, req.mode);
        if (typeof node === 'number') return node;
        const kind = node.type === 'directory' ? 'directory' : 'file';
        return this.#fds.open(kind, fs.display(req.path!), req.flags, node, FILE_READY, req.seq).fd;
      }
      case DescOp.STATX: {
        let node: Inode | number;
        if ((req.flags & AT_EMPTY_PATH) !== 0 && req.path === '') {
          const e = this.#fds.get(req.fd);
          if (e === undefined) return -E.EBADF;
          if (e.node === undefined) return { noModel: `fd ${req.fd} is a ${e.kind}` };
          node = e.node;
        } else {
          node = fs.sysLookup(this.#atPath(req.fd, req.path!), (req.flags & AT_SYMLINK_NOFOLLOW) === 0);
        }
        if (typeof node === 'number') return node;
        fs.fillStatx(node, req.statOut!);
        return 0;
      }
      case DescOp.UNLINKAT:
        return fs.sysUnlink(req.path!, (req.flags & AT_REMOVEDIR) !== 0);
      case DescOp.MKDIRAT:
        return fs.sysMkdir(req.path!, req.mode);
      case DescOp.RENAMEAT:
        return fs.sysRename(req.path!, req.dest!, req.flags);
      case DescOp.SYMLINKAT:
        return fs.sysSymlink(req.path!, req.dest!);
      case DescOp.LINKAT:
        return fs.sysLink(req.path!, req.dest!);
      default:
        return this.#fdOp(op);
    }
  }

  /** Operations on a file or directory fd. */
  #fdOp(op: Op): ModelResult {
    const req = op.req;
    const fs = this.#fs;
    const e = this.#fds.get(req.fd);
    if (e === undefined) return -E.EBADF;
    const acc = e.flags & 3;
    switch (op.code) {
      case DescOp.READ:
      case DescOp.READV: {
        if (e.kind === 'pollable') return { noModel: `fd ${e.fd} is a pollable fd` };
        if (acc === fsc.O_WRONLY) return -E.EBADF;
        if (e.kind === 'directory') return -E.EISDIR;
        const pos = req.position === -1 ? e.pos : req.position;
        const n = fs.sysRead(e.node!, req.buffer !== undefined ? [req.buffer] : req.buffers!, pos);
        if (req.position === -1) e.pos = pos + n;
        return n;
      }
      case DescOp.WRITE:
      case DescOp.WRITEV: {
        if (e.kind === 'pollable') return { noModel: `fd ${e.fd} is a pollable fd` };
        if (acc === fsc.O_RDONLY || e.kind === 'directory') return -E.EBADF;
        const node = e.node!;
        const pos = (e.flags & fsc.O_APPEND) !== 0 ? node.size : req.position === -1 ? e.pos : req.position;
        const n = fs.sysWrite(node, req.buffer !== undefined ? [req.buffer] : req.buffers!, pos);
        if (n >= 0 && req.position === -1) e.pos = pos + n;
        return n;
      }
      case DescOp.FSYNC:
        return e.kind === 'pollable' ? -E.EINVAL : 0;
      case DescOp.FADVISE:
        return e.kind === 'pollable' ? -E.ESPIPE : 0;
      case DescOp.FALLOCATE:
        if (e.kind === 'pollable') return -E.ENODEV;
        if (acc === fsc.O_RDONLY || e.kind === 'directory') return -E.EBADF;
        return fs.sysFallocate(e.node!, req.mode, req.position, req.length);
      case DescOp.FTRUNCATE:
        if (e.kind !== 'file' || acc === fsc.O_RDONLY) return -E.EINVAL;
        return fs.sysTruncate(e.node!, req.position);
      default:
        return { noModel: '' };
    }
  }

  /** A ring operation on a socket or pipe fd. */
  #socketOp(op: Op, sock: MockSocket, finish: (res: number) => void): ModelResult {
    const req = op.req;
    const w: NetWaiter = {
      view: req.buffer ?? new Uint8Array(0), flags: req.flags, addrOut: req.addrOut, dest: req.sockaddr,
      multishot: op.multishot, finish, more: (res) => this.#engine.emit(op, res),
    };
    const net = this.net;
    let r: number | typeof NET_PENDING;
    switch (op.code) {
      case DescOp.ACCEPT: r = net.accept(sock, w); break;
      case DescOp.CONNECT: r = net.connect(sock, req.sockaddr!, w); break;
      case DescOp.SEND: case DescOp.SENDMSG: case DescOp.WRITE: r = net.send(sock, w); break;
      case DescOp.RECV: case DescOp.RECVMSG: case DescOp.READ: r = net.recv(sock, w); break;
      case DescOp.SHUTDOWN: return net.shutdown(sock, req.flags);
      default: return { noModel: `${req.op} on a ${sock.kindName} socket` };
    }
    if (r !== NET_PENDING) return r;
    op.detach = () => net.forget(sock, w);
    return PENDING;
  }

  /** A path relative to a directory fd (AT_FDCWD: the mock's cwd). */
  #atPath(dirfd: number, p: string): string {
    if (p.startsWith('/') || dirfd === AT_FDCWD) return p;
    const e = this.#fds.get(dirfd);
    return e !== undefined && e.kind === 'directory' ? `${e.path}/${p}` : p;
  }

  #poll(op: Op, finish: (res: number) => void): ModelResult {
    const req = op.req;
    const e = this.#fds.get(req.fd);
    if (e === undefined) return -E.EBADF;
    const events = req.flags;
    const mask = e.ready & (events | POLL_ALWAYS);
    if (mask !== 0 && !op.multishot) return mask;
    const waiter: PollWaiter = { op, entry: e, events, multishot: op.multishot, fire: finish };
    e.pollers.add(waiter);
    op.waiter = waiter;
    if (mask !== 0) this.#engine.emit(op, mask);
    return PENDING;
  }
}
