/**
 * The mock's SyscallBackend: socket set-up calls (socket, bind, listen,
 * options, names, pipe) on in-memory sockets, so TcpListener,
 * Socket.connect and UdpSocket run on the mock. Each returns a value or a
 * negative errno, as the addon's calls do.
 */
import type { SyscallBackend } from '../backend.js';
import { E } from '../shared/errno.js';
import type { FdTable } from './fds.js';
import type { MockModels } from './models.js';
import type { MockSocket } from './socket.js';
import { bytesOf } from './request.js';
import { addrOf, bytesOfAddr, decodeSockaddr, encodeSockaddr } from '../shared/sockaddr.js';

export function makeSys(fds: FdTable, models: MockModels): SyscallBackend {
  const net = models.net;
  const sockOf = (fd: number): MockSocket | number => {
    const e = fds.get(fd);
    if (e === undefined) return -E.EBADF;
    return e.sock ?? -E.ENOTSOCK;
  };
  const int = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v);
  return {
    socket: (domain, type) => {
      if (!int(domain) || !int(type)) return -E.EINVAL;
      const s = net.socket(domain, type);
      return typeof s === 'number' ? s : models.openSocket(s, `socket(${s.kindName})`);
    },
    bind: (fd, sockaddr, len) => {
      const s = sockOf(fd);
      if (typeof s === 'number') return s;
      if (!ArrayBuffer.isView(sockaddr) || !int(len)) return -E.EINVAL;
      const a = addrOf(bytesOf(sockaddr), len);
      return typeof a === 'number' ? a : net.bind(s, a);
    },
    listen: (fd, backlog) => {
      const s = sockOf(fd);
      return typeof s === 'number' ? s : net.listen(s, backlog);
    },
    setsockopt: (fd, level, name, value) => {
      const s = sockOf(fd);
      return typeof s === 'number' ? s : net.setsockopt(s, level, name, value);
    },
    setlinger: (fd, on, seconds) => {
      const s = sockOf(fd);
      return typeof s === 'number' ? s : net.setlinger(s, on, seconds);
    },
    getsockopt: (fd, level, name) => {
      const s = sockOf(fd);
      return typeof s === 'number' ? [s, false] : net.getsockopt(s, level, name);
    },
    sockname: (fd, peer) => {
      const s = sockOf(fd);
      if (typeof s === 'number') return s;
      const a = net.sockname(s, peer);
      return typeof a === 'number' ? a : Buffer.from(bytesOfAddr(a));
    },
    sockaddrEncode: encodeSockaddr,
    sockaddrDecode: decodeSockaddr,
    pipe: (size) => {
      const [r, w] = net.pipe(size);
      return [models.openSocket(r, 'pipe()'), models.openSocket(w, 'pipe()')];
    },
    setAffinity: () => 0,
  };
}
