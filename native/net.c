/*
 * Socket set-up syscalls that never block (socket, bind, listen, options,
 * names), sockaddr conversion, pipes, CPU affinity. (Provided-buffer rings are
 * in register.c.)
 * Blocking work (accept, connect, send, recv) goes through the ring.
 *
 * Functions (exported from the addon):
 *   socket(domain, type, protocol) -> fd | -errno        (SOCK_CLOEXEC always; blocking: the ring arms poll)
 *   bind(fd, sockaddr, len) / listen(fd, backlog) -> 0 | -errno
 *   setsockopt(fd, level, name, int) / getsockopt(fd, level, name) -> int | -errno (as [ret])
 *   sockname(fd, peer) -> Buffer(128) sockaddr | -errno
 *   sockaddrEncode(family, address, port, flowinfo, scopeId) -> Buffer | -errno
 *   sockaddrDecode(buffer) -> [family, address, port, flowinfo, scopeId] | -errno
 *   pipe(size) -> [readFd, writeFd] | -errno            (O_CLOEXEC; F_SETPIPE_SZ when size > 0)
 *   setNonBlocking(fd, on) -> previous state 0/1 | -errno (O_NONBLOCK via fcntl)
 *   setAffinity(cpu) -> 0 | -errno                       (the calling thread)
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value i32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static bool get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) {
    return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok && *data;
  }
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type t;
    size_t n, off;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &t, &n, (void **)data, &ab, &off) != napi_ok) return false;
    if (t != napi_uint8_array && t != napi_int8_array && t != napi_uint8_clamped_array) return false;
    *len = n;
    return *data != NULL;
  }
  return false;
}

static napi_value js_socket(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t domain, type, proto;
  if (!get_i32(env, argv[0], &domain) || !get_i32(env, argv[1], &type) || !get_i32(env, argv[2], &proto))
    return i32(env, -EINVAL);
  int fd = socket(domain, (type & ~SOCK_NONBLOCK) | SOCK_CLOEXEC, proto);
  return i32(env, fd < 0 ? -errno : fd);
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, len;
  uint8_t *sa;
  size_t salen;
  if (!get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &sa, &salen) || !get_i32(env, argv[2], &len) ||
      len < 2 || (size_t)len > salen)
    return i32(env, -EINVAL);
  return i32(env, bind(fd, (struct sockaddr *)sa, (socklen_t)len) < 0 ? -errno : 0);
}

static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, backlog;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &backlog)) return i32(env, -EINVAL);
  return i32(env, listen(fd, backlog) < 0 ? -errno : 0);
}

static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t fd, level, name, value;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &level) || !get_i32(env, argv[2], &name) ||
      !get_i32(env, argv[3], &value))
    return i32(env, -EINVAL);
  return i32(env, setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0);
}

static napi_value js_setlinger(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, on, secs;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &on) || !get_i32(env, argv[2], &secs))
    return i32(env, -EINVAL);
  struct linger l = { .l_onoff = on ? 1 : 0, .l_linger = secs };
  return i32(env, setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0 ? -errno : 0);
}

static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, level, name, value = 0;
  socklen_t len = sizeof value;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &level) || !get_i32(env, argv[2], &name))
    return i32(env, -EINVAL);
  napi_value arr;
  napi_create_array_with_length(env, 1, &arr);
  int r = getsockopt(fd, level, name, &value, &len);
  napi_set_element(env, arr, 0, i32(env, r < 0 ? -errno : value));
  napi_value ok;
  napi_get_boolean(env, r >= 0, &ok);
  napi_set_element(env, arr, 1, ok);
  return arr;
}

static napi_value js_sockname(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  bool peer = false;
  if (!get_i32(env, argv[0], &fd)) return i32(env, -EINVAL);
  napi_get_value_bool(env, argv[1], &peer);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
  if (r < 0) return i32(env, -errno);
  /* Exactly the bytes the kernel filled: the length tells an unnamed Unix
   * socket (family only) from an abstract name. */
  napi_value buf;
  void *data;
  napi_create_buffer_copy(env, len, &ss, &data, &buf);
  return buf;
}

/* sockaddr <-> (family, address, port, flowinfo, scope). Unix: address is the
 * path; an abstract name is written with a leading '@'. */
static napi_value js_sockaddr_encode(napi_env env, napi_callback_info info) {
  ARGS(5);
  int32_t family, port = 0, flow = 0, scope = 0;
  char addr[256];
  size_t alen = 0;
  if (!get_i32(env, argv[0], &family) ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok)
    return i32(env, -EINVAL);
  get_i32(env, argv[2], &port);
  get_i32(env, argv[3], &flow);
  get_i32(env, argv[4], &scope);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &in->sin_addr) != 1) return i32(env, -EINVAL);
    len = sizeof *in;
  } else if (family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    in6->sin6_flowinfo = htonl((uint32_t)flow);
    in6->sin6_scope_id = (uint32_t)scope;
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1) return i32(env, -EINVAL);
    len = sizeof *in6;
  } else if (family == AF_UNIX) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    un->sun_family = AF_UNIX;
    if (alen >= sizeof un->sun_path || alen == sizeof addr - 1) return i32(env, -ENAMETOOLONG);
    memcpy(un->sun_path, addr, alen);
    if (alen > 0 && addr[0] == '@') {
      un->sun_path[0] = 0; /* abstract namespace: no terminator */
      len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen);
    } else {
      len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen + 1);
    }
  } else {
    return i32(env, -EAFNOSUPPORT);
  }
  /* 128 bytes of sockaddr_storage plus its length in the last 4 bytes. */
  uint8_t out[sizeof ss + 4];
  memcpy(out, &ss, sizeof ss);
  memcpy(out + sizeof ss, &len, 4);
  napi_value buf;
  void *data;
  napi_create_buffer_copy(env, sizeof out, out, &data, &buf);
  return buf;
}

static napi_value js_sockaddr_decode(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint8_t *d;
  size_t n;
  int32_t len = -1;
  if (!get_bytes(env, argv[0], &d, &n) || n < 2) return i32(env, -EINVAL);
  if (argc > 1) get_i32(env, argv[1], &len);
  /* No explicit length: a buffer shorter than sockaddr_storage is exact. */
  if (len < 0 && n < sizeof(struct sockaddr_storage)) len = (int32_t)n;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, d, n < sizeof ss ? n : sizeof ss);
  char text[INET6_ADDRSTRLEN + 112];
  int port = 0;
  uint32_t flow = 0, scope = 0;
  text[0] = 0;
  switch (ss.ss_family) {
    case AF_INET: {
      struct sockaddr_in *in = (struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      port = ntohs(in->sin_port);
      break;
    }
    case AF_INET6: {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      port = ntohs(in6->sin6_port);
      flow = ntohl(in6->sin6_flowinfo);
      scope = in6->sin6_scope_id;
      break;
    }
    case AF_UNIX: {
      struct sockaddr_un *un = (struct sockaddr_un *)&ss;
      size_t max = sizeof un->sun_path;
      if (len >= 0) {
        size_t l = (size_t)len > offsetof(struct sockaddr_un, sun_path) ? (size_t)len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (l < max) max = l;
      }
      bool all_zero = true;
      for (size_t z = 0; z < max; z++)
        if (un->sun_path[z]) {
          all_zero = false;
          break;
        }
      if (max == 0 || all_zero) {
        text[0] = 0; /* unnamed */
      } else if (un->sun_path[0] == 0) {
        text[0] = '@';
        size_t k = max - 1;
        /* Length unknown (recvmsg): an abstract name ends at its last non-NUL byte. */
        if (len < 0)
          while (k > 0 && un->sun_path[k] == 0) k--;
        memcpy(text + 1, un->sun_path + 1, k);
        text[1 + k] = 0;
      } else {
        size_t k = strnlen(un->sun_path, max);
        memcpy(text, un->sun_path, k);
        text[k] = 0;
      }
      break;
    }
    default:
      return i32(env, -EAFNOSUPPORT);
  }
  napi_value arr, s;
  napi_create_array_with_length(env, 5, &arr);
  napi_set_element(env, arr, 0, i32(env, ss.ss_family));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s);
  napi_set_element(env, arr, 1, s);
  napi_set_element(env, arr, 2, i32(env, port));
  napi_value u;
  napi_create_uint32(env, flow, &u);
  napi_set_element(env, arr, 3, u);
  napi_create_uint32(env, scope, &u);
  napi_set_element(env, arr, 4, u);
  return arr;
}

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t size = 0;
  get_i32(env, argv[0], &size);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return i32(env, -errno);
  if (size > 0) fcntl(fds[1], F_SETPIPE_SZ, size);
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, i32(env, fds[0]));
  napi_set_element(env, arr, 1, i32(env, fds[1]));
  return arr;
}

/*
 * setNonBlocking(fd, on) -> the previous O_NONBLOCK state (0 or 1) | -errno.
 * Socket.pipeTo's splice drains set it on the destination for the length of
 * one drain so that splice(2) into a full socket returns EAGAIN instead of
 * holding an io-wq thread (io_uring's own socket ops ignore the flag).
 */
static napi_value js_set_nonblocking(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd = -1;
  bool on = false;
  if (!get_i32(env, argv[0], &fd) || fd < 0 || napi_get_value_bool(env, argv[1], &on) != napi_ok) return i32(env, -EINVAL);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return i32(env, -errno);
  int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (want != fl && fcntl(fd, F_SETFL, want) < 0) return i32(env, -errno);
  return i32(env, (fl & O_NONBLOCK) ? 1 : 0);
}

static napi_value js_set_affinity(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t cpu;
  if (!get_i32(env, argv[0], &cpu) || cpu < 0 || cpu >= CPU_SETSIZE) return i32(env, -EINVAL);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return i32(env, sched_setaffinity(0, sizeof set, &set) < 0 ? -errno : 0);
}

napi_value uk_net_init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
    { "socket", js_socket },
    { "bind", js_bind },
    { "listen", js_listen },
    { "setsockopt", js_setsockopt },
    { "setlinger", js_setlinger },
    { "getsockopt", js_getsockopt },
    { "sockname", js_sockname },
    { "sockaddrEncode", js_sockaddr_encode },
    { "sockaddrDecode", js_sockaddr_decode },
    { "pipe", js_pipe },
    { "setAffinity", js_set_affinity },
    { "setNonBlocking", js_set_nonblocking },
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  return exports;
}
