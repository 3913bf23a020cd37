/*
 * SQE preparation. JavaScript writes every operation as a scalar record into
 * the shared stage (layout: UK_REC_* in uk.h, src/backend/protocol.ts);
 * records that touch memory name it through the stage's pin array (element i
 * for record i). uk_stage_flush validates each record (opcode, slot, kind,
 * fd, times), resolves its memory from the pinned objects (bounds checked
 * here, never trusted from JavaScript) and builds its SQE(s) in stage order,
 * so SQE order equals issue order. One `case UK_DESC_*` per operation in
 * build_record; side storage the kernel reads lives in the slot's uk_slot_mem.
 */
#include "prep.h"
#include "register.h"
#include "registry.h"
#include "ring.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/stat.h>
#include <string.h>

#ifdef UK_SANITIZE
/* Sanitizer builds: the memory each record's pins cover, checked against
 * every pointer of the SQE before it can be submitted. */
typedef struct uk_ranges {
  const uint8_t *lo[1028], *hi[1028];
  unsigned n;
} uk_ranges;
static __thread uk_ranges pinned;
#define PIN_RANGE(p, len)                                      \
  do {                                                         \
    if (pinned.n < 1028) {                                     \
      pinned.lo[pinned.n] = (const uint8_t *)(p);              \
      pinned.hi[pinned.n++] = (const uint8_t *)(p) + (len);    \
    }                                                          \
  } while (0)
#else
#define PIN_RANGE(p, len) ((void)0)
#endif

static void prep_rw(struct io_uring_sqe *sqe, int op, int fd, uint64_t addr, uint32_t len, uint64_t off, uint64_t ud) {
  sqe->opcode = (uint8_t)op;
  sqe->fd = fd;
  sqe->addr = addr;
  sqe->len = len;
  sqe->off = off;
  sqe->user_data = ud;
}

static inline void prep_nop(struct io_uring_sqe *sqe, uint64_t ud) {
  prep_rw(sqe, IORING_OP_NOP, -1, 0, 0, 0, ud);
}

static inline void prep_timeout(struct io_uring_sqe *sqe, struct __kernel_timespec *ts, uint64_t ud) {
  prep_rw(sqe, IORING_OP_TIMEOUT, -1, (uint64_t)(uintptr_t)ts, 1, 0 /* count */, ud);
}

static inline void prep_link_timeout(struct io_uring_sqe *sqe, struct __kernel_timespec *ts, uint64_t ud) {
  prep_rw(sqe, IORING_OP_LINK_TIMEOUT, -1, (uint64_t)(uintptr_t)ts, 1, 0, ud);
}

static inline void prep_poll_add(struct io_uring_sqe *sqe, int fd, uint32_t events, bool multishot, uint64_t ud) {
  prep_rw(sqe, IORING_OP_POLL_ADD, fd, 0, multishot ? IORING_POLL_ADD_MULTI : 0, 0, ud);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  events = __builtin_bswap32(events);
#endif
  sqe->poll32_events = events;
}

static inline void prep_close(struct io_uring_sqe *sqe, int fd, uint64_t ud) {
  prep_rw(sqe, IORING_OP_CLOSE, fd, 0, 0, 0, ud);
}

static int ms_to_ts(double ms, struct __kernel_timespec *ts) {
  if (!isfinite(ms) || ms < 0 || ms > 9.0e15) return -EINVAL;
  double sec = floor(ms / 1000.0);
  ts->tv_sec = (long long)sec;
  ts->tv_nsec = (long long)((ms - sec * 1000.0) * 1e6);
  if (ts->tv_nsec >= 1000000000LL) ts->tv_nsec = 999999999LL;
  if (ts->tv_nsec < 0) ts->tv_nsec = 0;
  return 0;
}

static inline double rec_f64(const int32_t *rec, int word) {
  double d;
  memcpy(&d, rec + word, sizeof d);
  return d;
}

/* ---- memory named by a record's pin (JS object -> pointer, bounds-checked) ---- */

/* A typed array, DataView or Buffer: its bytes. Detached views give NULL/0. */
static bool view_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  *data = NULL;
  *len = 0;
  /* The common case in one call: napi_get_typedarray_info answers
   * napi_invalid_arg (no exception) for anything that is not a typed array. */
  napi_typedarray_type t;
  size_t n;
  void *p;
  if (napi_get_typedarray_info(env, v, &t, &n, &p, NULL, NULL) == napi_ok) {
    size_t el = 1;
    switch (t) {
      case napi_int16_array: case napi_uint16_array: el = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: el = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: el = 8; break;
      default: el = 1;
    }
    *data = p;
    *len = n * el;
    PIN_RANGE(p, *len);
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    size_t off;
    napi_value ab;
    if (napi_get_dataview_info(env, v, &n, &p, &ab, &off) != napi_ok) return false;
    *data = p;
    *len = n;
    PIN_RANGE(p, n);
    return true;
  }
  return false;
}

/* A NUL-terminated path held in a view. */
static const char *view_path(napi_env env, napi_value v) {
  uint8_t *d;
  size_t n;
  if (!v || !view_bytes(env, v, &d, &n) || !d || n == 0) return NULL;
  if (!memchr(d, 0, n)) return NULL;
  return (const char *)d;
}

/* Element i of a pin array; NULL for a hole, undefined or null. */
static napi_value pin_at(napi_env env, napi_value pins, uint32_t i) {
  napi_value v = NULL;
  napi_valuetype t;
  if (napi_get_element(env, pins, i, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return NULL;
  return t == napi_undefined || t == napi_null ? NULL : v;
}

/* Element i of a pin array as it is (undefined included), for callers that
 * validate it themselves (view_window refuses anything but a view): one
 * N-API call instead of two on the read/write path. */
static napi_value pin_raw(napi_env env, napi_value pins, uint32_t i) {
  napi_value v = NULL;
  if (!pins || napi_get_element(env, pins, i, &v) != napi_ok) return NULL;
  return v;
}

static napi_value pin_elem(napi_env env, napi_value arr, uint32_t k) {
  bool is = false;
  if (!arr || napi_is_array(env, arr, &is) != napi_ok || !is) return NULL;
  return pin_at(env, arr, k);
}

static bool f64_to_off(double d, uint64_t *out) {
  if (d == -1) {
    *out = (uint64_t)-1;
    return true;
  }
  if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return false;
  *out = (uint64_t)d;
  return true;
}

typedef struct uk_built {
  uint64_t addr, addr2, off;
  uint32_t len;
} uk_built;



/* The window [offset, offset + length) of a pinned view named by a record
 * (offset: f64 words 12-13, length: word 14), bounds-checked here. */
static int view_window(napi_env env, napi_value pin, const int32_t *rec, uint8_t **addr, uint32_t *len_out) {
  uint8_t *d;
  size_t n;
  if (!pin || !view_bytes(env, pin, &d, &n)) return -EINVAL;
  double boff = rec_f64(rec, UK_REC_OFFSET);
  uint32_t len = (uint32_t)rec[UK_REC_LENGTH];
  if (!(boff >= 0) || boff != floor(boff) || boff > (double)n || (size_t)boff + len > n) return -EFAULT;
  if (len > 0 && !d) return -EFAULT;
  *addr = d + (size_t)boff;
  *len_out = len;
  return 0;
}

/* Resolves the memory a record's operation needs. Returns 0 or -errno. */
static int resolve_memory(napi_env env, napi_value pin, uint32_t op, const int32_t *rec, uk_slot_mem *m,
                          uk_built *b) {
  uint8_t *d;
  size_t n;
  switch (op) {
    case UK_DESC_READ:
    case UK_DESC_WRITE: {
      int e = view_window(env, pin, rec, &d, &b->len);
      if (e < 0) return e;
      b->addr = (uint64_t)(uintptr_t)d;
      if (!f64_to_off(rec_f64(rec, UK_REC_POSITION), &b->off)) return -EINVAL;
      return 0;
    }
    case UK_DESC_READV:
    case UK_DESC_WRITEV: {
      bool is = false;
      uint32_t cnt = 0;
      if (!pin || napi_is_array(env, pin, &is) != napi_ok || !is) return -EINVAL;
      napi_get_array_length(env, pin, &cnt);
      if (cnt == 0 || cnt > 1024) return -EINVAL;
      if (m->live) return -EBUSY; /* never resize vectors the kernel may read */
      if (m->iov_cap < cnt) {
        struct iovec *nv = realloc(m->iov, cnt * sizeof(struct iovec));
        if (!nv) return -ENOMEM;
        m->iov = nv;
        m->iov_cap = cnt;
      }
      for (uint32_t k = 0; k < cnt; k++) {
        napi_value e = pin_at(env, pin, k);
        if (!e || !view_bytes(env, e, &d, &n)) return -EINVAL;
        if (n > 0 && !d) return -EFAULT;
        m->iov[k].iov_base = d;
        m->iov[k].iov_len = n;
      }
      b->addr = (uint64_t)(uintptr_t)m->iov;
      b->len = cnt;
      if (!f64_to_off(rec_f64(rec, UK_REC_POSITION), &b->off)) return -EINVAL;
      return 0;
    }
    case UK_DESC_OPENAT:
    case UK_DESC_OPENAT2:
    case UK_DESC_UNLINKAT:
    case UK_DESC_MKDIRAT: {
      const char *path = view_path(env, pin);
      if (!path) return -EINVAL;
      b->addr = (uint64_t)(uintptr_t)path;
      return 0;
    }
    case UK_DESC_STATX: {
      const char *path = view_path(env, pin_elem(env, pin, 0));
      napi_value out = pin_elem(env, pin, 1);
      if (!path || !out || !view_bytes(env, out, &d, &n) || !d || n < sizeof(struct statx)) return -EINVAL;
      b->addr = (uint64_t)(uintptr_t)path;
      b->addr2 = (uint64_t)(uintptr_t)d;
      return 0;
    }
    case UK_DESC_RENAMEAT:
    case UK_DESC_SYMLINKAT:
    case UK_DESC_LINKAT: {
      const char *p1 = view_path(env, pin_elem(env, pin, 0));
      const char *p2 = view_path(env, pin_elem(env, pin, 1));
      if (!p1 || !p2) return -EINVAL;
      b->addr = (uint64_t)(uintptr_t)p1;
      b->addr2 = (uint64_t)(uintptr_t)p2;
      return 0;
    }
    case UK_DESC_SEND:
    case UK_DESC_RECV:
    case UK_DESC_SEND_ZC: {
      int e = view_window(env, pin, rec, &d, &b->len);
      if (e < 0) return e;
      b->addr = (uint64_t)(uintptr_t)d;
      return 0;
    }
    case UK_DESC_ACCEPT: {
      if (!pin) return 0; /* no peer address wanted (multishot) */
      if (!view_bytes(env, pin, &d, &n) || !d || n < sizeof(struct sockaddr_storage) + sizeof(socklen_t)) return -EINVAL;
      socklen_t *lenp = (socklen_t *)(d + sizeof(struct sockaddr_storage));
      *lenp = sizeof(struct sockaddr_storage);
      b->addr = (uint64_t)(uintptr_t)d;
      b->addr2 = (uint64_t)(uintptr_t)lenp;
      return 0;
    }
    case UK_DESC_CONNECT: {
      if (!pin || !view_bytes(env, pin, &d, &n) || !d) return -EINVAL;
      if (rec[UK_REC_ARG0] < 2 || (size_t)rec[UK_REC_ARG0] > n) return -EINVAL;
      b->addr = (uint64_t)(uintptr_t)d;
      b->off = (uint64_t)rec[UK_REC_ARG0];
      return 0;
    }
    case UK_DESC_SENDMSG:
    case UK_DESC_RECVMSG: {
      napi_value name = pin_elem(env, pin, 1);
      uint32_t len;
      int e = view_window(env, pin_elem(env, pin, 0), rec, &d, &len);
      if (e < 0) return e;
      if (m->live) return -EBUSY; /* never rewrite a msghdr the kernel may read */
      memset(&m->msg, 0, sizeof m->msg);
      m->msg_iov.iov_base = d;
      m->msg_iov.iov_len = len;
      m->msg.msg_iov = &m->msg_iov;
      m->msg.msg_iovlen = 1;
      napi_valuetype t = napi_undefined;
      if (name) napi_typeof(env, name, &t);
      if (name && t != napi_undefined && t != napi_null) {
        uint8_t *nd;
        size_t nn;
        if (!view_bytes(env, name, &nd, &nn) || !nd) return -EINVAL;
        if (op == UK_DESC_SENDMSG) {
          if (rec[UK_REC_ARG1] < 2 || (size_t)rec[UK_REC_ARG1] > nn) return -EINVAL;
          m->msg.msg_namelen = (socklen_t)rec[UK_REC_ARG1];
        } else {
          if (nn < sizeof(struct sockaddr_storage)) return -EINVAL;
          m->msg.msg_namelen = sizeof(struct sockaddr_storage);
        }
        m->msg.msg_name = nd;
      }
      b->addr = (uint64_t)(uintptr_t)&m->msg;
      b->len = 1;
      return 0;
    }
    default:
      return 0;
  }
}

static bool needs_fd(uint32_t op) {
  switch (op) {
    case UK_DESC_NOP:
    case UK_DESC_TIMEOUT:
    case UK_DESC_CANCEL:
    case UK_DESC_OPENAT:
    case UK_DESC_OPENAT2:
    case UK_DESC_STATX:
    case UK_DESC_UNLINKAT:
    case UK_DESC_MKDIRAT:
    case UK_DESC_RENAMEAT:
    case UK_DESC_SYMLINKAT:
    case UK_DESC_LINKAT:
    case UK_DESC_MSG_RING:
    case UK_DESC_FILES_UPDATE:
      return false; /* no fd, a dirfd that may be AT_FDCWD, or a ring id */
    default:
      return true;
  }
}

#ifdef UK_SANITIZE
static bool in_pinned(uint64_t addr, uint64_t len, const uk_slot_mem *m) {
  const uint8_t *a = (const uint8_t *)(uintptr_t)addr;
  if (a >= (const uint8_t *)m && a + len <= (const uint8_t *)(m + 1)) return true; /* slot memory */
  if (m->iov && a >= (const uint8_t *)m->iov && a + len <= (const uint8_t *)(m->iov + m->iov_cap)) return true;
  for (unsigned i = 0; i < pinned.n; i++)
    if (a >= pinned.lo[i] && a + len <= pinned.hi[i]) return true;
  return false;
}

/* Every pointer in the SQE lies inside an object the slot pins (a view or
 * path the record named, or the slot's native memory); abort otherwise. */
static void check_sqe(const struct io_uring_sqe *sqe, const uk_slot_mem *m) {
  uint64_t addr_len = 0, addr2_len = 0;
  bool addr_ptr = false, addr2_ptr = false;
  switch (sqe->opcode) {
    case IORING_OP_READ: case IORING_OP_WRITE: case IORING_OP_SEND: case IORING_OP_RECV: case IORING_OP_SEND_ZC:
    case IORING_OP_READ_FIXED: case IORING_OP_WRITE_FIXED:
      addr_ptr = true; addr_len = sqe->len; break;
    case IORING_OP_FILES_UPDATE:
      addr_ptr = true; addr_len = (uint64_t)sqe->len * sizeof(int32_t); break;
    case IORING_OP_READV: case IORING_OP_WRITEV:
      addr_ptr = true; addr_len = (uint64_t)sqe->len * sizeof(struct iovec); break;
    case IORING_OP_SENDMSG: case IORING_OP_RECVMSG:
      addr_ptr = true; addr_len = sizeof(struct msghdr); break;
    case IORING_OP_TIMEOUT: case IORING_OP_LINK_TIMEOUT:
      addr_ptr = true; addr_len = sizeof(struct __kernel_timespec); break;
    case IORING_OP_OPENAT: case IORING_OP_UNLINKAT: case IORING_OP_MKDIRAT:
      addr_ptr = true; addr_len = 1; break;
    case UK_IORING_OP_OPENAT2: /* addr: path; off: the slot's open_how */
      addr_ptr = true; addr_len = 1;
      if (!in_pinned(sqe->off, sizeof(struct uk_open_how), m)) {
        fprintf(stderr, "uringkit: OPENAT2's open_how lies outside its slot's memory\n");
        abort();
      }
      break;
    case IORING_OP_STATX:
      addr_ptr = true; addr_len = 1; addr2_ptr = true; addr2_len = sizeof(struct statx); break;
    case IORING_OP_RENAMEAT: case IORING_OP_SYMLINKAT: case IORING_OP_LINKAT:
      addr_ptr = true; addr_len = 1; addr2_ptr = true; addr2_len = 1; break;
    case IORING_OP_CONNECT:
      addr_ptr = true; addr_len = sqe->off; break;
    case IORING_OP_ACCEPT:
      addr_ptr = sqe->addr != 0; addr_len = sizeof(struct sockaddr_storage);
      addr2_ptr = sqe->addr2 != 0; addr2_len = sizeof(socklen_t); break;
    default: break;
  }
  if ((addr_ptr && addr_len > 0 && !in_pinned(sqe->addr, addr_len, m)) ||
      (addr2_ptr && !in_pinned(sqe->addr2, addr2_len, m))) {
    fprintf(stderr, "uringkit: SQE opcode %u points outside the memory its slot pins (addr %p+%llu, addr2 %p)\n",
            sqe->opcode, (void *)(uintptr_t)sqe->addr, (unsigned long long)addr_len, (void *)(uintptr_t)sqe->addr2);
    abort();
  }
}
#endif

/* Builds the SQE(s) of one record. Returns 0, -EAGAIN when the SQ lacks room
 * (nothing written), or another -errno for a record that fails validation
 * (nothing written; the activation is completed with that error). */
static int build_record(uk_ring *r, napi_env env, napi_value pins, uint32_t index, const int32_t *rec) {
  uint32_t op = (uint32_t)rec[UK_REC_OP_FLAGS] & 0xff;
  uint32_t flags = ((uint32_t)rec[UK_REC_OP_FLAGS] >> 8) & 0xff;
  uint32_t slot = (uint32_t)rec[UK_REC_SLOT];
  uint32_t hi = (uint32_t)rec[UK_REC_HI];
  int fd = rec[UK_REC_FD];
  if (op == UK_DESC_PBUF_RECYCLE) {
    uk_pbuf_recycle(r, (uint16_t)rec[UK_REC_ARG0], (uint16_t)rec[UK_REC_ARG1]);
    return 0;
  }
  if (op >= UK_DESC__COUNT || slot >= UK_MAX_SLOTS || (hi & 3u) != UK_KIND_OP) return -EINVAL;
#ifdef UK_SANITIZE
  pinned.n = 0;
#endif
  bool link = (flags & UK_DESC_F_LINK_TIMEOUT) != 0 && op != UK_DESC_CANCEL;
  if (uk_sq_space(r) < (link ? 2u : 1u)) return -EAGAIN;
  uk_slot_mem *m = uk_slot(r, slot);
  if (!m) return -ENOMEM;
  uint64_t ud = ((uint64_t)hi << 32) | slot;
  if (needs_fd(op) && fd < 0) return -EBADF;

  /* Validate everything before taking an SQE. */
  uk_built b = { 0, 0, 0, 0 };
  uint64_t off2 = 0;
  bool fixed_buf = false;
  if (flags & UK_DESC_F_FIXED_FILE) {
    switch (op) {
      case UK_DESC_READ: case UK_DESC_WRITE: case UK_DESC_READV: case UK_DESC_WRITEV: case UK_DESC_READ_FIXED:
      case UK_DESC_WRITE_FIXED: case UK_DESC_FSYNC: case UK_DESC_FALLOCATE: case UK_DESC_FADVISE:
      case UK_DESC_FTRUNCATE: case UK_DESC_SYNC_FILE_RANGE:
        if ((uint32_t)fd >= r->files_count) return -EBADF;
        break;
      default:
        return -EINVAL;
    }
  }
  switch (op) {
    case UK_DESC_TIMEOUT:
      if (ms_to_ts(rec_f64(rec, UK_REC_OP_MS), &m->ts_op) < 0) return -EINVAL;
      break;
    case UK_DESC_CANCEL:
      if ((uint32_t)rec[UK_REC_ARG0] >= UK_MAX_SLOTS) return -EINVAL;
      hi = (hi & ~3u) | UK_KIND_CANCEL;
      ud = ((uint64_t)hi << 32) | slot;
      break;
    case UK_DESC_FALLOCATE:
    case UK_DESC_FADVISE:
    case UK_DESC_FTRUNCATE:
      if (!f64_to_off(rec_f64(rec, UK_REC_POSITION), &b.off) || b.off == (uint64_t)-1) return -EINVAL;
      if (!f64_to_off(rec_f64(rec, UK_REC_OFFSET), &off2) || off2 == (uint64_t)-1) return -EINVAL;
      break;
    case UK_DESC_SYNC_FILE_RANGE:
      /* offset >= 0, byte count fits the SQE's u32 len, flags only SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER. */
      if (!f64_to_off(rec_f64(rec, UK_REC_POSITION), &b.off) || b.off == (uint64_t)-1) return -EINVAL;
      if (!f64_to_off(rec_f64(rec, UK_REC_OFFSET), &off2) || off2 > 0xffffffffu) return -EINVAL;
      if ((uint32_t)rec[UK_REC_ARG0] & ~7u) return -EINVAL;
      break;
    case UK_DESC_SPLICE:
      if (!f64_to_off(rec_f64(rec, UK_REC_POSITION), &b.off) || !f64_to_off(rec_f64(rec, UK_REC_OFFSET), &off2)) return -EINVAL;
      if (rec[UK_REC_ARG0] < 0) return -EBADF;
      break;
    case UK_DESC_RECV_MULTI:
    case UK_DESC_SHUTDOWN:
      break;
    case UK_DESC_MSG_RING:
      /* The record names the target ring by id; its fd is resolved here. */
      fd = uk_registry_find((uint32_t)rec[UK_REC_FD]);
      if (fd < 0) return -EBADFD;
      break;
    case UK_DESC_READ_FIXED:
    case UK_DESC_WRITE_FIXED: {
      /* READ_FIXED only for a window wholly inside the registered region
       * (buffer index 0); any other view gets a plain READ/WRITE. */
      int e = resolve_memory(env, pin_raw(env, pins, index), UK_DESC_READ, rec, m, &b);
      if (e < 0) return e;
      const uint8_t *a = (const uint8_t *)(uintptr_t)b.addr;
      fixed_buf = r->fixed_base != NULL && a >= r->fixed_base && b.len <= r->fixed_len &&
                  (size_t)(a - r->fixed_base) <= r->fixed_len - b.len;
      break;
    }
    case UK_DESC_FILES_UPDATE: {
      /* Replaces table entries [arg0, arg0 + count) in SQ order with the
       * pinned fds (-1 clears an entry). */
      uint8_t *d;
      size_t n;
      napi_value pin = pins ? pin_at(env, pins, index) : NULL;
      if (!pin || !view_bytes(env, pin, &d, &n) || !d || n < sizeof(int32_t) || n % sizeof(int32_t) != 0)
        return -EINVAL;
      size_t cnt = n / sizeof(int32_t);
      if (rec[UK_REC_ARG0] < 0 || cnt > r->files_count || (uint32_t)rec[UK_REC_ARG0] > r->files_count - cnt) return -EINVAL;
      b.addr = (uint64_t)(uintptr_t)d;
      b.len = (uint32_t)cnt;
      b.off = (uint64_t)(uint32_t)rec[UK_REC_ARG0];
      break;
    }
    default: {
      napi_value pin = op == UK_DESC_READ || op == UK_DESC_WRITE ? pin_raw(env, pins, index)
                       : pins ? pin_at(env, pins, index) : NULL;
      int e = resolve_memory(env, pin, op, rec, m, &b);
      if (e < 0) return e;
    }
  }
  if (link && ms_to_ts(rec_f64(rec, UK_REC_LINK_MS), &m->ts_link) < 0) return -EINVAL;

  struct io_uring_sqe *sqe = uk_get_sqe(r);
  switch (op) {
    case UK_DESC_NOP: prep_nop(sqe, ud); break;
    case UK_DESC_TIMEOUT: prep_timeout(sqe, &m->ts_op, ud); break;
    case UK_DESC_POLL: prep_poll_add(sqe, fd, (uint32_t)rec[UK_REC_ARG0], false, ud); break;
    case UK_DESC_POLL_MULTI: prep_poll_add(sqe, fd, (uint32_t)rec[UK_REC_ARG0], true, ud); break;
    case UK_DESC_CLOSE: prep_close(sqe, fd, ud); break;
    case UK_DESC_CANCEL:
      uk_sqe_cancel(sqe, ((uint64_t)(uint32_t)rec[UK_REC_ARG1] << 32) | (uint32_t)rec[UK_REC_ARG0], ud);
      break;
    case UK_DESC_READ: prep_rw(sqe, IORING_OP_READ, fd, b.addr, b.len, b.off, ud); break;
    case UK_DESC_WRITE: prep_rw(sqe, IORING_OP_WRITE, fd, b.addr, b.len, b.off, ud); break;
    case UK_DESC_READV: prep_rw(sqe, IORING_OP_READV, fd, b.addr, b.len, b.off, ud); break;
    case UK_DESC_WRITEV: prep_rw(sqe, IORING_OP_WRITEV, fd, b.addr, b.len, b.off, ud); break;
    case UK_DESC_FSYNC:
      prep_rw(sqe, IORING_OP_FSYNC, fd, 0, 0, 0, ud);
      sqe->fsync_flags = (uint32_t)rec[UK_REC_ARG0] & IORING_FSYNC_DATASYNC;
      break;
    case UK_DESC_FALLOCATE: /* addr = length, len = mode */
      prep_rw(sqe, IORING_OP_FALLOCATE, fd, off2, (uint32_t)rec[UK_REC_ARG0], b.off, ud);
      break;
    case UK_DESC_FADVISE:
      prep_rw(sqe, IORING_OP_FADVISE, fd, 0, (uint32_t)(off2 > 0xffffffffu ? 0 : off2), b.off, ud);
      sqe->fadvise_advice = (uint32_t)rec[UK_REC_ARG0];
      break;
    case UK_DESC_FTRUNCATE:
      prep_rw(sqe, 55 /* IORING_OP_FTRUNCATE, Linux 6.9 */, fd, 0, 0, b.off, ud);
      break;
    case UK_DESC_SYNC_FILE_RANGE: /* liburing's io_uring_prep_sync_file_range: len = bytes, off = offset */
      prep_rw(sqe, IORING_OP_SYNC_FILE_RANGE, fd, 0, (uint32_t)off2, b.off, ud);
      sqe->sync_range_flags = (uint32_t)rec[UK_REC_ARG0];
      break;
    case UK_DESC_OPENAT:
      prep_rw(sqe, IORING_OP_OPENAT, fd, b.addr, (uint32_t)rec[UK_REC_ARG1], 0, ud);
      sqe->open_flags = (uint32_t)rec[UK_REC_ARG0] | O_CLOEXEC;
      break;
    case UK_DESC_OPENAT2: /* dirfd, path, struct open_how in the slot's memory (len = its size, off = its address) */
      m->how.flags = (uint64_t)(uint32_t)rec[UK_REC_ARG0] | O_CLOEXEC;
      m->how.mode = (uint32_t)rec[UK_REC_ARG1];
      m->how.resolve = (uint32_t)rec[UK_REC_ARG2];
      prep_rw(sqe, UK_IORING_OP_OPENAT2, fd, b.addr, sizeof(struct uk_open_how), (uint64_t)(uintptr_t)&m->how, ud);
      break;
    case UK_DESC_STATX:
      prep_rw(sqe, IORING_OP_STATX, fd, b.addr, (uint32_t)rec[UK_REC_ARG1], b.addr2, ud);
      sqe->statx_flags = (uint32_t)rec[UK_REC_ARG0];
      break;
    case UK_DESC_UNLINKAT:
      prep_rw(sqe, IORING_OP_UNLINKAT, fd, b.addr, 0, 0, ud);
      sqe->unlink_flags = (uint32_t)rec[UK_REC_ARG0];
      break;
    case UK_DESC_MKDIRAT:
      prep_rw(sqe, IORING_OP_MKDIRAT, fd, b.addr, (uint32_t)rec[UK_REC_ARG1], 0, ud);
      break;
    case UK_DESC_RENAMEAT:
      prep_rw(sqe, IORING_OP_RENAMEAT, fd, b.addr, (uint32_t)rec[UK_REC_ARG0], b.addr2, ud);
      sqe->rename_flags = (uint32_t)rec[UK_REC_ARG1];
      break;
    case UK_DESC_SYMLINKAT:
      prep_rw(sqe, IORING_OP_SYMLINKAT, fd, b.addr, 0, b.addr2, ud);
      break;
    case UK_DESC_LINKAT:
      prep_rw(sqe, IORING_OP_LINKAT, fd, b.addr, (uint32_t)rec[UK_REC_ARG0], b.addr2, ud);
      sqe->hardlink_flags = (uint32_t)rec[UK_REC_ARG1];
      break;
    case UK_DESC_SPLICE:
      prep_rw(sqe, IORING_OP_SPLICE, rec[UK_REC_ARG0] /* fd_out */, 0, (uint32_t)rec[UK_REC_LENGTH], off2, ud);
      sqe->splice_off_in = b.off;
      sqe->splice_fd_in = fd;
      sqe->splice_flags = (uint32_t)rec[UK_REC_ARG1];
      break;
    case UK_DESC_ACCEPT:
      prep_rw(sqe, IORING_OP_ACCEPT, fd, b.addr, 0, b.addr2, ud);
      sqe->accept_flags = (uint32_t)rec[UK_REC_ARG0] | SOCK_CLOEXEC;
      if (rec[UK_REC_ARG1] == 1) sqe->ioprio |= IORING_ACCEPT_MULTISHOT;
      break;
    case UK_DESC_CONNECT:
      prep_rw(sqe, IORING_OP_CONNECT, fd, b.addr, 0, b.off, ud);
      break;
    case UK_DESC_SEND:
      prep_rw(sqe, IORING_OP_SEND, fd, b.addr, b.len, 0, ud);
      sqe->msg_flags = (uint32_t)rec[UK_REC_ARG0] | MSG_NOSIGNAL;
      break;
    case UK_DESC_SEND_ZC:
      prep_rw(sqe, IORING_OP_SEND_ZC, fd, b.addr, b.len, 0, ud);
      sqe->msg_flags = (uint32_t)rec[UK_REC_ARG0] | MSG_NOSIGNAL;
      break;
    case UK_DESC_RECV:
      prep_rw(sqe, IORING_OP_RECV, fd, b.addr, b.len, 0, ud);
      sqe->msg_flags = (uint32_t)rec[UK_REC_ARG0];
      break;
    case UK_DESC_RECV_MULTI:
      prep_rw(sqe, IORING_OP_RECV, fd, 0, 0, 0, ud);
      sqe->msg_flags = (uint32_t)rec[UK_REC_ARG0];
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = (uint16_t)rec[UK_REC_ARG1];
      sqe->ioprio |= IORING_RECV_MULTISHOT;
      /* ARG2: a total byte limit (sqe->optlen, the slot of splice_fd_in; Linux
       * 6.17+): the multishot ends after that many bytes, so the kernel cannot
       * fill the whole provided-buffer pool before we see the first CQE.
       * Older kernels reject a non-zero value there (file_index) with EINVAL. */
      sqe->splice_fd_in = (uint32_t)rec[UK_REC_ARG2];
      break;
    case UK_DESC_SENDMSG:
      prep_rw(sqe, IORING_OP_SENDMSG, fd, b.addr, 1, 0, ud);
      sqe->msg_flags = (uint32_t)rec[UK_REC_ARG0] | MSG_NOSIGNAL;
      break;
    case UK_DESC_RECVMSG:
      prep_rw(sqe, IORING_OP_RECVMSG, fd, b.addr, 1, 0, ud);
      sqe->msg_flags = (uint32_t)rec[UK_REC_ARG0];
      break;
    case UK_DESC_SHUTDOWN:
      prep_rw(sqe, IORING_OP_SHUTDOWN, fd, 0, (uint32_t)rec[UK_REC_ARG0], 0, ud);
      break;
    case UK_DESC_MSG_RING:
      /* The target ring sees user_data = tag << 32 | UK_SLOT_MESSAGE, res = value. */
      prep_rw(sqe, IORING_OP_MSG_RING, fd, 0 /* IORING_MSG_DATA */, (uint32_t)rec[UK_REC_ARG1],
              ((uint64_t)(uint32_t)rec[UK_REC_ARG0] << 32) | UK_SLOT_MESSAGE, ud);
      break;
    case UK_DESC_READ_FIXED:
      prep_rw(sqe, fixed_buf ? IORING_OP_READ_FIXED : IORING_OP_READ, fd, b.addr, b.len, b.off, ud);
      break;
    case UK_DESC_WRITE_FIXED:
      prep_rw(sqe, fixed_buf ? IORING_OP_WRITE_FIXED : IORING_OP_WRITE, fd, b.addr, b.len, b.off, ud);
      break;
    case UK_DESC_FILES_UPDATE:
      prep_rw(sqe, IORING_OP_FILES_UPDATE, -1, b.addr, b.len, b.off, ud);
      break;
  }
  if (flags & UK_DESC_F_FIXED_FILE) sqe->flags |= IOSQE_FIXED_FILE;
#ifdef UK_SANITIZE
  check_sqe(sqe, m);
#endif
  m->live++;
  if (op != UK_DESC_CANCEL) m->op_user_data = ud;
  if (link) {
    struct io_uring_sqe *lt = uk_get_sqe(r);
    uint64_t lud = ((uint64_t)((hi & ~3u) | UK_KIND_LINK_TIMEOUT) << 32) | slot;
    if (flags & UK_DESC_F_SEPARATE_TIMER) {
      prep_timeout(lt, &m->ts_link, lud);
    } else {
      sqe->flags |= IOSQE_IO_LINK;
      prep_link_timeout(lt, &m->ts_link, lud);
    }
#ifdef UK_SANITIZE
    check_sqe(lt, m);
#endif
    m->live++;
  }
  return 0;
}

/* Moves staged records into the SQ, submitting whenever the SQ is full.
 * A record that fails validation takes no SQE; it is answered with a
 * synthetic completion (res = -errno) in the out buffer, plus a -ECANCELED
 * one for its linked timeout when it has one, so that it still settles
 * exactly once and its slot is released. *nout receives the number of synthetic completions.
 * Returns 0, or -errno when the kernel refused submission (records not yet
 * built stay staged, in order). */
int uk_stage_flush(uk_ring *r, napi_env env, napi_value pins, uint32_t *nout) {
  int32_t *hdr = r->stage;
  uint32_t count = (uint32_t)hdr[UK_STAGE_COUNT];
  if (count > r->stage_cap) count = r->stage_cap;
  uint32_t i = 0, rejected = 0;
  int err = 0;
  while (i < count) {
    const int32_t *rec = r->stage + UK_STAGE_HEADER_WORDS + (size_t)i * UK_DESC_WORDS;
    int e = build_record(r, env, pins, i, rec);
    if (e == -EAGAIN) {
      int s = uk_ring_submit(r, 0);
      if (s < 0) {
        err = s;
        break;
      }
      if (uk_sq_space(r) < 2) {
        err = -EBUSY;
        break;
      }
      continue;
    }
    if (e < 0 && rejected + 2 <= r->out_cap) {
      int32_t *o = r->out + (size_t)rejected * UK_CQE_WORDS;
      o[UK_CQE_SLOT] = rec[UK_REC_SLOT];
      o[UK_CQE_HI] = rec[UK_REC_HI];
      o[UK_CQE_RES] = e;
      o[UK_CQE_FLAGS] = 0;
      rejected++;
      /* The activation also waits for its linked timeout's CQE: answer it too. */
      uint32_t op = (uint32_t)rec[UK_REC_OP_FLAGS] & 0xff, fl = ((uint32_t)rec[UK_REC_OP_FLAGS] >> 8) & 0xff;
      if ((fl & UK_DESC_F_LINK_TIMEOUT) && op != UK_DESC_CANCEL && op != UK_DESC_PBUF_RECYCLE) {
        o += UK_CQE_WORDS;
        o[UK_CQE_SLOT] = rec[UK_REC_SLOT];
        o[UK_CQE_HI] = (int32_t)(((uint32_t)rec[UK_REC_HI] & ~3u) | UK_KIND_LINK_TIMEOUT);
        o[UK_CQE_RES] = -ECANCELED;
        o[UK_CQE_FLAGS] = 0;
        rejected++;
      }
    }
    i++;
  }
  if (i > 0 && i < count) {
    memmove(r->stage + UK_STAGE_HEADER_WORDS, r->stage + UK_STAGE_HEADER_WORDS + (size_t)i * UK_DESC_WORDS,
            (size_t)(count - i) * UK_DESC_WORDS * sizeof(int32_t));
  }
  hdr[UK_STAGE_COUNT] = (int32_t)(count - i);
  *nout = rejected;
  uk_pbuf_publish(r);
  return err;
}
