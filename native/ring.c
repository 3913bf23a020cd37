/*
 * Ring setup, the three mmaps, io_uring_enter, reaping and teardown.
 * Contracts:
 *  - the ring memory is MADV_DONTFORK: a forked child never touches it;
 *  - uk_reap never drops a CQE: overflowed CQEs (IORING_FEAT_NODROP) are
 *    flushed back into the CQ by an enter with GETEVENTS;
 *  - uk_ring_drain_all returns true only when no SQE of this ring awaits a
 *    CQE. Only when the caller allows it (no JS-owned memory can still be
 *    in the kernel's hands, or the whole process is exiting) does it give up
 *    after UK_DRAIN_LIMIT_MS: it says so on stderr and returns false, and the
 *    caller must then leave the ring's memory and buffers alone (the kernel
 *    may still write them; they are freed with the process). Otherwise it
 *    keeps draining (a worker thread's buffers die with its isolate: waiting
 *    is the only safe answer), saying once on stderr that it waits.
 */
#define _GNU_SOURCE
#include "ring.h"
#include "fdtrack.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IORING_REGISTER_RING_FDS
#define IORING_REGISTER_RING_FDS 20
#define IORING_UNREGISTER_RING_FDS 21
#endif
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif

#define load_acquire(p) atomic_load_explicit((_Atomic unsigned *)(p), memory_order_acquire)
#define store_release(p, v) atomic_store_explicit((_Atomic unsigned *)(p), (v), memory_order_release)

static int sys_setup(unsigned entries, struct io_uring_params *p) {
  return (int)syscall(__NR_io_uring_setup, entries, p);
}

int uk_sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

static void *map_region(int fd, size_t len, off_t off) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off);
  if (p == MAP_FAILED) return NULL;
  madvise(p, len, MADV_DONTFORK);
  return p;
}

/* Setup flag sets, most capable first; each later set drops what an older
 * kernel rejects with EINVAL. */
static const unsigned flag_sets[] = {
  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
  IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
  IORING_SETUP_SUBMIT_ALL,
  0,
};

/* allow: 256 bytes, allow[op] != 0 for every IORING_OP_* the ring may run;
 * NULL for no restrictions. wq_fd >= 0: IORING_SETUP_ATTACH_WQ to that ring
 * (the kernel answers ENXIO/EINVAL if it is not a live io_uring fd). A restricted ring starts disabled, gets its
 * eventfd, then IORING_REGISTER_RESTRICTIONS, then is enabled: from then on
 * the kernel itself refuses any other opcode (-EACCES). */
int uk_ring_init(uk_ring *r, unsigned entries, unsigned cq_entries, unsigned want_flags, const uint8_t *allow,
                 int wq_fd, const char **why) {
  struct io_uring_params p;
  int fd = -1;
  size_t i;
  *why = NULL;
  r->enter_fd = -1;
  r->enter_flags = 0;
  r->reg_tid = 0;
  for (i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
    memset(&p, 0, sizeof(p));
    p.flags = (flag_sets[i] & want_flags) | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    if (allow) p.flags |= IORING_SETUP_R_DISABLED;
    if (wq_fd >= 0) {
      /* The caller keeps wq_fd a live io_uring fd for the duration of this call. */
      p.flags |= IORING_SETUP_ATTACH_WQ;
      p.wq_fd = (unsigned)wq_fd;
    }
    p.cq_entries = cq_entries;
    fd = sys_setup(entries, &p);
    if (fd >= 0) break;
    if (errno != EINVAL) break;
  }
  if (fd < 0) {
    int e = errno;
    *why = "io_uring_setup";
    return -e;
  }
  r->fd = fd;
  r->enter_fd = fd;
  r->setup_flags = p.flags;
  r->features = p.features;
  r->sq_entries = p.sq_entries;
  r->cq_entries = p.cq_entries;

  r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    if (r->cq_map_len > r->sq_map_len) r->sq_map_len = r->cq_map_len;
    r->cq_map_len = r->sq_map_len;
  }
  r->sq_map = map_region(fd, r->sq_map_len, IORING_OFF_SQ_RING);
  if (!r->sq_map) goto fail;
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    r->cq_map = r->sq_map;
  } else {
    r->cq_map = map_region(fd, r->cq_map_len, IORING_OFF_CQ_RING);
    if (!r->cq_map) goto fail;
  }
  r->sqes_map_len = p.sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = map_region(fd, r->sqes_map_len, IORING_OFF_SQES);
  if (!r->sqes) goto fail;

  char *sq = r->sq_map, *cq = r->cq_map;
  r->sq_khead = (unsigned *)(sq + p.sq_off.head);
  r->sq_ktail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_kflags = (unsigned *)(sq + p.sq_off.flags);
  r->sq_kdropped = (unsigned *)(sq + p.sq_off.dropped);
  r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_khead = (unsigned *)(cq + p.cq_off.head);
  r->cq_ktail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
  r->cq_koverflow = (unsigned *)(cq + p.cq_off.overflow);
  r->cq_kflags = p.cq_off.flags ? (unsigned *)(cq + p.cq_off.flags) : NULL;
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  /* The SQ index array is the identity: SQE i is always at array slot i. */
  for (unsigned k = 0; k < p.sq_entries; k++) r->sq_array[k] = k;
  r->sqe_tail = *r->sq_ktail;
  r->cq_dropped_seen = *r->cq_koverflow;

  r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (r->efd < 0) goto fail;
  if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_EVENTFD, &r->efd, 1) < 0) goto fail;
  if (allow) {
    struct io_uring_restriction res[256 + 8];
    unsigned n = 0;
    memset(res, 0, sizeof res);
    for (unsigned op = 0; op < 256; op++)
      if (allow[op]) {
        res[n].opcode = IORING_RESTRICTION_SQE_OP;
        res[n++].sqe_op = (uint8_t)op;
      }
    res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    res[n++].sqe_flags = IOSQE_IO_LINK | IOSQE_BUFFER_SELECT;
    static const uint8_t reg_ops[] = { IORING_REGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING, IORING_REGISTER_PROBE,
                                       UK_REGISTER_IOWQ_MAX_WORKERS };
    for (size_t k = 0; k < sizeof reg_ops; k++) {
      res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
      res[n++].register_op = reg_ops[k];
    }
    if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_RESTRICTIONS, res, n) < 0) goto fail;
    if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) goto fail;
  } else {
    /* Optional (5.18+; at most 16 per thread): on any refusal, enter by fd. */
    struct io_uring_rsrc_update up;
    memset(&up, 0, sizeof up);
    up.offset = -1U;
    up.data = (uint64_t)fd;
    if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_RING_FDS, &up, 1) == 1) {
      r->enter_fd = (int)up.offset;
      r->enter_flags = IORING_ENTER_REGISTERED_RING;
      r->reg_tid = (int)syscall(SYS_gettid);
    }
  }
  return 0;

fail: {
  int e = errno ? errno : ENOMEM;
  *why = "io_uring mmap/register";
  uk_ring_unmap(r);
  return -e;
}
}

void uk_ring_unmap(uk_ring *r) {
  if (r->sqes) munmap(r->sqes, r->sqes_map_len);
  if (r->cq_map && r->cq_map != r->sq_map) munmap(r->cq_map, r->cq_map_len);
  if (r->sq_map) munmap(r->sq_map, r->sq_map_len);
  r->sqes = NULL;
  r->cq_map = r->sq_map = NULL;
  uk_fdtrack_forget_ring(r);
  if (r->enter_flags & IORING_ENTER_REGISTERED_RING) {
    /* The registration holds a reference to the ring: drop it, from the
     * thread that owns it (another thread's table index could name another
     * ring). Off that thread, the kernel drops it when the owner exits. */
    if ((int)syscall(SYS_gettid) == r->reg_tid) {
      struct io_uring_rsrc_update up;
      memset(&up, 0, sizeof up);
      up.offset = (unsigned)r->enter_fd;
      syscall(__NR_io_uring_register, r->fd, IORING_UNREGISTER_RING_FDS, &up, 1);
    }
    r->enter_flags = 0;
  }
  r->enter_fd = -1;
  if (r->efd >= 0) close(r->efd);
  if (r->fd >= 0) close(r->fd);
  r->efd = r->fd = -1;
  for (uint32_t i = 0; i < r->nchunks; i++) {
    if (!r->chunks[i]) continue;
    for (uint32_t k = 0; k < UK_SLOT_CHUNK; k++) free(r->chunks[i][k].iov);
    free(r->chunks[i]);
  }
  free(r->chunks);
  r->chunks = NULL;
  r->nchunks = 0;
}

unsigned uk_sq_space(const uk_ring *r) {
  return r->sq_entries - (r->sqe_tail - load_acquire(r->sq_khead));
}

struct io_uring_sqe *uk_get_sqe(uk_ring *r) {
  if (uk_sq_space(r) == 0) return NULL;
  struct io_uring_sqe *sqe = &r->sqes[r->sqe_tail & r->sq_mask];
  memset(sqe, 0, sizeof(*sqe));
  r->sqe_tail++;
  r->outstanding++;
  r->stats[UK_STAT_SQES] += 1;
  return sqe;
}

/* Fills a zeroed SQE (from uk_get_sqe) as IORING_OP_ASYNC_CANCEL of the
 * operation whose user_data is `target`; its own CQE carries `ud`. */
void uk_sqe_cancel(struct io_uring_sqe *sqe, uint64_t target, uint64_t ud) {
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  sqe->addr = target;
  sqe->user_data = ud;
}

/* io_uring_enter, retrying EINTR. Returns >= 0 or -errno. */
int uk_ring_enter(uk_ring *r, unsigned to_submit, unsigned min_complete, unsigned flags) {
  for (;;) {
    r->stats[UK_STAT_ENTERS] += 1;
    int n = uk_sys_enter(r->enter_fd, to_submit, min_complete, flags | r->enter_flags);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    return -errno;
  }
}

/* Publish filled SQEs and submit them. GETEVENTS is added when the kernel has
 * task work for us (TASKRUN_FLAG) or CQEs sit in the overflow list, so that
 * completions are flushed into the CQ. Returns the number submitted or -errno
 * (-EBUSY/-EAGAIN: nothing could be submitted now; retry after reaping). */
int uk_ring_submit(uk_ring *r, unsigned min_complete) {
  unsigned pending = r->sqe_tail - *r->sq_ktail;
  uk_fdtrack_submit(r, *r->sq_ktail, r->sqe_tail);
  store_release(r->sq_ktail, r->sqe_tail);
  unsigned flags = 0;
  unsigned kflags = load_acquire(r->sq_kflags);
  if (min_complete || (kflags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN))) flags |= IORING_ENTER_GETEVENTS;
  if (kflags & IORING_SQ_CQ_OVERFLOW) r->stats[UK_STAT_CQ_OVERFLOWS] += 1;
  if (pending == 0 && flags == 0) return 0;
  int n = uk_ring_enter(r, pending, min_complete, flags);
  return n;
}

/* Enabling is a full barrier: the caller re-reads the CQ tail afterwards, and
 * that load must not be ordered before the store (no lost wake-up).
 * Disabling needs no ordering: at worst one spurious wake-up. */
void uk_eventfd_enable(uk_ring *r, bool on) {
  if (!r->cq_kflags) return;
  unsigned f = *r->cq_kflags;
  if (on) {
    if (!(f & IORING_CQ_EVENTFD_DISABLED)) {
      atomic_thread_fence(memory_order_seq_cst);
      return;
    }
    atomic_store_explicit((_Atomic unsigned *)r->cq_kflags, f & ~IORING_CQ_EVENTFD_DISABLED, memory_order_seq_cst);
  } else if (!(f & IORING_CQ_EVENTFD_DISABLED)) {
    atomic_store_explicit((_Atomic unsigned *)r->cq_kflags, f | IORING_CQ_EVENTFD_DISABLED, memory_order_relaxed);
  }
}

static inline void account_cqe(uk_ring *r, const struct io_uring_cqe *cqe) {
  uk_fdtrack_cqe(r, cqe);
  uint32_t slot = (uint32_t)cqe->user_data;
  if (slot == UK_SLOT_MESSAGE) return;
  if (cqe->flags & IORING_CQE_F_MORE) return;
  r->outstanding--;
  uk_slot_mem *m = uk_slot(r, slot);
  if (m && m->live) m->live--;
}

/* Copies up to out_cap CQEs into the shared out buffer and advances the CQ
 * head. When the CQ is empty and enable_when_empty is set, the eventfd is
 * re-enabled and the CQ checked once more, so a completion posted in between
 * is never left without a wake-up. */
uint32_t uk_reap(uk_ring *r, uint32_t start, bool enable_when_empty) {
  uint32_t n = start;
  for (;;) {
    unsigned head = *r->cq_khead;
    unsigned tail = load_acquire(r->cq_ktail);
    while (head != tail && n < r->out_cap) {
      const struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];
      int32_t *o = r->out + (size_t)n * UK_CQE_WORDS;
      o[UK_CQE_SLOT] = (int32_t)(uint32_t)cqe->user_data;
      o[UK_CQE_HI] = (int32_t)(uint32_t)(cqe->user_data >> 32);
      o[UK_CQE_RES] = cqe->res;
      o[UK_CQE_FLAGS] = (int32_t)cqe->flags;
      account_cqe(r, cqe);
      head++;
      n++;
    }
    store_release(r->cq_khead, head);
    if (n == r->out_cap) break;
    /* CQEs parked in the kernel's overflow list come back with GETEVENTS. */
    if (load_acquire(r->sq_kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) {
      if (load_acquire(r->sq_kflags) & IORING_SQ_CQ_OVERFLOW) r->stats[UK_STAT_CQ_OVERFLOWS] += 1;
      int e = uk_ring_enter(r, 0, 0, IORING_ENTER_GETEVENTS);
      if (e >= 0 && load_acquire(r->cq_ktail) != head) continue;
    }
    if (enable_when_empty) {
      /* The CQ is empty: wake-ups are needed again from here on. */
      uk_eventfd_enable(r, true);
      if (load_acquire(r->cq_ktail) != head) {
        uk_eventfd_enable(r, false);
        continue;
      }
    }
    break;
  }
  unsigned dropped = *r->cq_koverflow;
  if (dropped != r->cq_dropped_seen) {
    r->stats[UK_STAT_CQES_DROPPED] += (double)(dropped - r->cq_dropped_seen);
    r->cq_dropped_seen = dropped;
  }
  if (n > start) r->stats[UK_STAT_REAP_BATCHES] += 1;
  return n;
}

uk_slot_mem *uk_slot(uk_ring *r, uint32_t slot) {
  if (slot >= UK_MAX_SLOTS) return NULL;
  uint32_t c = slot >> UK_SLOT_CHUNK_SHIFT;
  if (c >= r->nchunks) {
    uint32_t n = r->nchunks ? r->nchunks : 4;
    while (n <= c) n *= 2;
    uk_slot_mem **nc = realloc(r->chunks, n * sizeof(*nc));
    if (!nc) return NULL;
    memset(nc + r->nchunks, 0, (n - r->nchunks) * sizeof(*nc));
    r->chunks = nc;
    r->nchunks = n;
  }
  if (!r->chunks[c]) {
    /* Chunks are never moved or freed while the ring lives: the kernel may
     * hold pointers into them. */
    r->chunks[c] = calloc(UK_SLOT_CHUNK, sizeof(uk_slot_mem));
    if (!r->chunks[c]) return NULL;
  }
  return &r->chunks[c][slot & (UK_SLOT_CHUNK - 1)];
}

/* Teardown: cancel every live activation and reap until no SQE awaits a CQE
 * (from JS, nothing is live any more and this returns at once). With
 * `may_give_up`, blocks for at most UK_DRAIN_LIMIT_MS: an operation the
 * kernel never ends must not turn an exit into a hang. */
#define UK_DRAIN_LIMIT_MS 10000
bool uk_ring_drain_all(uk_ring *r, bool may_give_up) {
  r->out_cap = 0; /* nothing is copied out any more */
  int rounds = 0;
  while (r->outstanding > 0) {
    if (rounds == UK_DRAIN_LIMIT_MS / 50) {
      fprintf(stderr, "uringkit: ring fd %d: %u operation(s) still outstanding %d ms into teardown; %s\n",
              r->fd, (unsigned)r->outstanding, UK_DRAIN_LIMIT_MS,
              may_give_up ? "the ring's memory is left to the kernel (freed when the process exits)"
                          : "waiting for them (their buffers must outlive them)");
      if (may_give_up) return false;
    }
    /* Re-issue cancels every few rounds: an operation may have been running
     * (not cancellable) the first time. */
    if (rounds % 8 == 0) {
      for (uint32_t c = 0; c < r->nchunks; c++) {
        if (!r->chunks[c]) continue;
        for (uint32_t i = 0; i < UK_SLOT_CHUNK; i++) {
          uk_slot_mem *m = &r->chunks[c][i];
          if (!m->live) continue;
          struct io_uring_sqe *sqe = uk_get_sqe(r);
          if (!sqe) {
            uk_ring_submit(r, 0);
            sqe = uk_get_sqe(r);
            if (!sqe) break;
          }
          uk_sqe_cancel(sqe, m->op_user_data, ((uint64_t)UK_KIND_CANCEL << 32) | ((c << UK_SLOT_CHUNK_SHIFT) | i));
          m->live++;
        }
      }
    }
    rounds++;
    int e = uk_ring_submit(r, 0);
    (void)e;
    /* Wait up to 50 ms for completions, then cancel again. */
    struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 };
    struct io_uring_getevents_arg arg = { .sigmask = 0, .sigmask_sz = _NSIG / 8, .pad = 0, .ts = (uint64_t)(uintptr_t)&ts };
    if (r->features & IORING_FEAT_EXT_ARG) {
      syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
    } else {
      uk_sys_enter(r->fd, 0, 1, IORING_ENTER_GETEVENTS);
    }
    unsigned head = *r->cq_khead, tail = load_acquire(r->cq_ktail);
    while (head != tail) {
      account_cqe(r, &r->cqes[head & r->cq_mask]);
      head++;
    }
    store_release(r->cq_khead, head);
  }
  return true;
}

int uk_probe(uk_ring *r, uint8_t *ops, unsigned n) {
  size_t len = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
  struct io_uring_probe *p = calloc(1, len);
  if (!p) return -ENOMEM;
  int ret = (int)syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PROBE, p, 256);
  if (ret < 0) {
    ret = -errno;
    free(p);
    return ret;
  }
  for (unsigned i = 0; i < n && i < p->ops_len; i++) {
    ops[i] = (p->ops[i].flags & IO_URING_OP_SUPPORTED) ? 1 : 0;
  }
  ret = (int)p->last_op;
  free(p);
  return ret;
}
