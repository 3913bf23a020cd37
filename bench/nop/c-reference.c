/*
 * c-reference: the physical limit for IORING_OP_NOP on this machine.
 *
 * Raw io_uring, no liburing: io_uring_setup/io_uring_enter via syscall(2),
 * the SQ ring, CQ ring and SQE array mmapped by hand. Setup flags match the
 * uringkit library (SINGLE_ISSUER|COOP_TASKRUN|TASKRUN_FLAG|SUBMIT_ALL, with
 * the same EINVAL fallback chain, CQSIZE = 4 x entries, CLAMP).
 *
 * Usage: c-reference <batch32|batch1> [target_ms=500] [warmup_ms=50]
 *   batch32: prepare 32 NOPs, one io_uring_enter(32, 32, GETEVENTS), reap 32.
 *   batch1:  one NOP, io_uring_enter(1, 1, GETEVENTS), reap 1.
 * Runs whole batches until target_ms has elapsed and prints one line:
 *   mode=batch32 ops=N elapsed_ns=T ns_per_op=X setup_flags=0x...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef IORING_SETUP_CQSIZE
#define IORING_SETUP_CQSIZE (1U << 3)
#endif
#ifndef IORING_SETUP_CLAMP
#define IORING_SETUP_CLAMP (1U << 4)
#endif
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_FEAT_SINGLE_MMAP
#define IORING_FEAT_SINGLE_MMAP (1U << 0)
#endif
#ifndef IORING_ENTER_GETEVENTS
#define IORING_ENTER_GETEVENTS (1U << 0)
#endif

#define ENTRIES 1024u
#define CQ_ENTRIES (4u * ENTRIES)

#define load_acquire(p) atomic_load_explicit((_Atomic unsigned *)(p), memory_order_acquire)
#define store_release(p, v) atomic_store_explicit((_Atomic unsigned *)(p), (v), memory_order_release)

struct ring {
  int fd;
  unsigned setup_flags;
  unsigned *sq_khead, *sq_ktail, sq_mask, *sq_array;
  unsigned *cq_khead, *cq_ktail, cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  unsigned sqe_tail;
};

static int sys_setup(unsigned entries, struct io_uring_params *p) {
  return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

static void *map(int fd, size_t len, off_t off) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  return p;
}

static void ring_init(struct ring *r) {
  static const unsigned flag_sets[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_SUBMIT_ALL,
    0,
  };
  struct io_uring_params p;
  int fd = -1;
  for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
    memset(&p, 0, sizeof(p));
    p.flags = flag_sets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = CQ_ENTRIES;
    fd = sys_setup(ENTRIES, &p);
    if (fd >= 0 || errno != EINVAL) break;
  }
  if (fd < 0) {
    perror("io_uring_setup");
    exit(1);
  }
  r->fd = fd;
  r->setup_flags = p.flags;

  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  char *sq, *cq;
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    if (cq_len > sq_len) sq_len = cq_len;
    sq = cq = map(fd, sq_len, IORING_OFF_SQ_RING);
  } else {
    sq = map(fd, sq_len, IORING_OFF_SQ_RING);
    cq = map(fd, cq_len, IORING_OFF_CQ_RING);
  }
  r->sqes = map(fd, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
  r->sq_khead = (unsigned *)(sq + p.sq_off.head);
  r->sq_ktail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_khead = (unsigned *)(cq + p.cq_off.head);
  r->cq_ktail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  for (unsigned k = 0; k < p.sq_entries; k++) r->sq_array[k] = k; /* identity index array */
  r->sqe_tail = *r->sq_ktail;
}

static inline void prep_nop(struct ring *r, uint64_t user_data) {
  struct io_uring_sqe *sqe = &r->sqes[r->sqe_tail & r->sq_mask];
  memset(sqe, 0, sizeof(*sqe));
  sqe->opcode = IORING_OP_NOP;
  sqe->user_data = user_data;
  r->sqe_tail++;
}

static volatile uint64_t sink;

/* Reaps every CQE present; returns how many. */
static inline unsigned reap(struct ring *r) {
  unsigned head = *r->cq_khead;
  unsigned tail = load_acquire(r->cq_ktail);
  unsigned n = tail - head;
  uint64_t acc = 0;
  for (; head != tail; head++) {
    const struct io_uring_cqe *c = &r->cqes[head & r->cq_mask];
    if (c->res < 0) {
      fprintf(stderr, "nop failed: %d\n", c->res);
      exit(1);
    }
    acc += c->user_data;
  }
  store_release(r->cq_khead, head);
  sink += acc;
  return n;
}

/* One batch: prep `batch` NOPs, one submit-and-wait enter, reap them all. */
static inline void run_batch(struct ring *r, unsigned batch, uint64_t *ud) {
  for (unsigned i = 0; i < batch; i++) prep_nop(r, (*ud)++);
  store_release(r->sq_ktail, r->sqe_tail);
  int n;
  do n = sys_enter(r->fd, batch, batch, IORING_ENTER_GETEVENTS);
  while (n < 0 && errno == EINTR);
  if (n != (int)batch) {
    fprintf(stderr, "io_uring_enter submitted %d of %u: %s\n", n, batch, n < 0 ? strerror(errno) : "short");
    exit(1);
  }
  unsigned got = 0;
  while (got < batch) got += reap(r);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Runs whole batches for about `ms` milliseconds; returns ops done, *elapsed set. */
static uint64_t run_for(struct ring *r, unsigned batch, double ms, uint64_t *elapsed) {
  uint64_t ud = 0, ops = 0;
  uint64_t budget = (uint64_t)(ms * 1e6);
  uint64_t t0 = now_ns(), t;
  /* Check the clock every 4096 ops so clock_gettime stays out of the figure. */
  unsigned chunk = 4096 / batch;
  do {
    for (unsigned i = 0; i < chunk; i++) run_batch(r, batch, &ud);
    ops += (uint64_t)chunk * batch;
    t = now_ns();
  } while (t - t0 < budget);
  *elapsed = t - t0;
  return ops;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "batch32") != 0 && strcmp(argv[1], "batch1") != 0)) {
    fprintf(stderr, "usage: %s <batch32|batch1> [target_ms=500] [warmup_ms=50]\n", argv[0]);
    return 2;
  }
  unsigned batch = strcmp(argv[1], "batch32") == 0 ? 32 : 1;
  double target_ms = argc > 2 ? atof(argv[2]) : 500;
  double warmup_ms = argc > 3 ? atof(argv[3]) : 50;
  struct ring r;
  ring_init(&r);
  uint64_t elapsed;
  if (warmup_ms > 0) run_for(&r, batch, warmup_ms, &elapsed);
  uint64_t ops = run_for(&r, batch, target_ms, &elapsed);
  printf("mode=%s ops=%llu elapsed_ns=%llu ns_per_op=%.3f setup_flags=0x%x\n", argv[1], (unsigned long long)ops,
    (unsigned long long)elapsed, (double)elapsed / (double)ops, r.setup_flags);
  return 0;
}
