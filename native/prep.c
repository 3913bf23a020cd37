/*
 * SQE preparation. One helper per operation, named after liburing's prep
 * helpers. Each takes only validated values; pointers come from native slot
 * storage or from buffers the addon layer was handed and bounds-checked.
 *
 * Descriptor path: operations whose SQE holds no user memory (nop, timeout,
 * poll, close, cancel) are written by JavaScript as scalar records into the
 * shared stage; uk_stage_flush validates each record and builds its SQE(s).
 * Operations that carry buffers are prepared by direct calls (addon.c) which
 * flush the stage first, so SQE order equals issue order.
 */
#include "uk.h"

#include <errno.h>
#include <math.h>
#include <string.h>

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

void uk_prep_cancel_ud(struct io_uring_sqe *sqe, uint64_t target, uint64_t ud) {
  prep_rw(sqe, IORING_OP_ASYNC_CANCEL, -1, target, 0, 0, ud);
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

/* Builds the SQE(s) of one record. Returns 0, -EAGAIN when the SQ lacks room
 * (nothing written), or -EINVAL for a record that fails validation (nothing
 * written; the activation is completed by JavaScript with that error). */
static int build_record(uk_ring *r, const int32_t *rec) {
  uint32_t op = (uint32_t)rec[0] & 0xff;
  uint32_t flags = ((uint32_t)rec[0] >> 8) & 0xff;
  uint32_t slot = (uint32_t)rec[1];
  uint32_t hi = (uint32_t)rec[2];
  int fd = rec[3];
  if (op >= UK_DESC__COUNT || slot >= UK_MAX_SLOTS || (hi & 3u) != UK_KIND_OP) return -EINVAL;
  bool link = (flags & UK_DESC_F_LINK_TIMEOUT) != 0;
  if (uk_sq_space(r) < (link ? 2u : 1u)) return -EAGAIN;
  uk_slot_mem *m = uk_slot(r, slot);
  if (!m) return -ENOMEM;
  uint64_t ud = ((uint64_t)hi << 32) | slot;

  /* Validate everything before taking an SQE. */
  switch (op) {
    case UK_DESC_TIMEOUT:
      if (ms_to_ts(rec_f64(rec, 6), &m->ts_op) < 0) return -EINVAL;
      break;
    case UK_DESC_POLL:
    case UK_DESC_POLL_MULTI:
    case UK_DESC_CLOSE:
      if (fd < 0) return -EBADF;
      break;
    case UK_DESC_CANCEL: {
      uint32_t tslot = (uint32_t)rec[4];
      if (tslot >= UK_MAX_SLOTS) return -EINVAL;
      hi = (hi & ~3u) | UK_KIND_CANCEL;
      ud = ((uint64_t)hi << 32) | slot;
      link = false;
      break;
    }
    default:
      break;
  }
  if (link && ms_to_ts(rec_f64(rec, 8), &m->ts_link) < 0) return -EINVAL;

  struct io_uring_sqe *sqe = uk_get_sqe(r);
  switch (op) {
    case UK_DESC_NOP: prep_nop(sqe, ud); break;
    case UK_DESC_TIMEOUT: prep_timeout(sqe, &m->ts_op, ud); break;
    case UK_DESC_POLL: prep_poll_add(sqe, fd, (uint32_t)rec[4], false, ud); break;
    case UK_DESC_POLL_MULTI: prep_poll_add(sqe, fd, (uint32_t)rec[4], true, ud); break;
    case UK_DESC_CLOSE: prep_close(sqe, fd, ud); break;
    case UK_DESC_CANCEL:
      uk_prep_cancel_ud(sqe, ((uint64_t)(uint32_t)rec[5] << 32) | (uint32_t)rec[4], ud);
      break;
  }
  m->live++;
  if (op != UK_DESC_CANCEL) m->op_user_data = ud;
  if (link) {
    sqe->flags |= IOSQE_IO_LINK;
    struct io_uring_sqe *lt = uk_get_sqe(r);
    prep_link_timeout(lt, &m->ts_link, ((uint64_t)((hi & ~3u) | UK_KIND_LINK_TIMEOUT) << 32) | slot);
    m->live++;
  }
  return 0;
}

/* Moves staged records into the SQ, submitting whenever the SQ is full.
 * A record that fails validation takes no SQE; it is answered with a
 * synthetic completion (res = -errno) in the out buffer so that it still
 * settles exactly once. *nout receives the number of synthetic completions.
 * Returns 0, or -errno when the kernel refused submission (records not yet
 * built stay staged, in order). */
int uk_stage_flush(uk_ring *r, uint32_t *nout) {
  int32_t *hdr = r->stage;
  uint32_t count = (uint32_t)hdr[0];
  if (count > r->stage_cap) count = r->stage_cap;
  uint32_t i = 0, rejected = 0;
  int err = 0;
  while (i < count) {
    const int32_t *rec = r->stage + UK_STAGE_HEADER_WORDS + (size_t)i * UK_DESC_WORDS;
    int e = build_record(r, rec);
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
    if (e < 0 && rejected < r->out_cap) {
      int32_t *o = r->out + (size_t)rejected * UK_CQE_WORDS;
      o[0] = rec[1];
      o[1] = rec[2];
      o[2] = e;
      o[3] = 0;
      rejected++;
    }
    i++;
  }
  if (i > 0 && i < count) {
    memmove(r->stage + UK_STAGE_HEADER_WORDS, r->stage + UK_STAGE_HEADER_WORDS + (size_t)i * UK_DESC_WORDS,
            (size_t)(count - i) * UK_DESC_WORDS * sizeof(int32_t));
  }
  hdr[0] = (int32_t)(count - i);
  *nout = rejected;
  return err;
}
