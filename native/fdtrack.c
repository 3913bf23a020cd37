/*
 * fds opened through uringkit are closed when their thread's environment is
 * torn down (worker.terminate(), a worker that crashed, process exit), as
 * Node closes its own handles. The teardown runs without JavaScript (an
 * N-API env cleanup hook), so C keeps the list.
 *
 * What is tracked, at the kernel boundary so that no JavaScript path can be
 * missed: the fd of every successful OPENAT/OPENAT2/ACCEPT CQE (single-shot
 * and multishot) of a uringkit ring, and the fds returned by the addon's
 * `socket` and `pipe` helpers. What is forgotten: every fd an
 * IORING_OP_CLOSE of a uringkit ring closes (forgotten when the SQE is
 * submitted), and fds passed to `forgetFd` (closed some other way).
 *
 * Contracts:
 *  - A recycled fd number is never closed by mistake: each entry records the
 *    file's (st_dev, st_ino) when tracked, and teardown closes the fd only if
 *    fstat still reports the same pair. Tracking an fd number that is
 *    already in the table replaces the entry (the kernel reused the number,
 *    so the old fd was closed behind uringkit's back), so the table never
 *    grows past the highest fd number tracked.
 *  - The one case the check cannot catch: an fd opened through uringkit,
 *    closed behind its back (node:fs close on that number), and the same
 *    file opened again outside uringkit under the same number. Close fds
 *    opened through uringkit through uringkit (ring.closeFd, File.close,
 *    Socket.close), or call forgetFd first.
 *  - The table is process-wide (fd numbers are) and each entry belongs to the
 *    env (thread) that opened it; teardown closes that env's entries only.
 *    An fd handed to another thread still belongs to the opener.
 *  - Ordering: the cleanup hook is registered when the addon loads, before
 *    any ring of that env, and Node runs cleanup hooks in reverse order: the
 *    rings' hooks first cancel and reap everything in flight (an accept that
 *    completes while draining is tracked too), then the fds are closed.
 */
#define _GNU_SOURCE
#include "fdtrack.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fd_entry {
  napi_env owner; /* NULL: free */
  uint64_t dev, ino;
} fd_entry;

static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static fd_entry *fd_table;
static size_t fd_cap;

void uk_fdtrack_add(napi_env env, int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return;
  pthread_mutex_lock(&fd_lock);
  if ((size_t)fd >= fd_cap) {
    size_t n = fd_cap ? fd_cap : 64;
    while (n <= (size_t)fd) n *= 2;
    fd_entry *t = realloc(fd_table, n * sizeof *t);
    if (!t) {
      /* Out of memory: this fd is not closed at teardown (nothing worse). */
      pthread_mutex_unlock(&fd_lock);
      return;
    }
    memset(t + fd_cap, 0, (n - fd_cap) * sizeof *t);
    fd_table = t;
    fd_cap = n;
  }
  fd_table[fd].owner = env;
  fd_table[fd].dev = (uint64_t)st.st_dev;
  fd_table[fd].ino = (uint64_t)st.st_ino;
  pthread_mutex_unlock(&fd_lock);
}

void uk_fdtrack_remove(int fd) {
  if (fd < 0) return;
  pthread_mutex_lock(&fd_lock);
  if ((size_t)fd < fd_cap) fd_table[fd].owner = NULL;
  pthread_mutex_unlock(&fd_lock);
}

/* ---- activations whose result is a new fd (per thread: rings are single-issuer) ---- */

typedef struct pending_ring {
  uk_ring *r;
  uint64_t *bits; /* one bit per slot with such an activation in flight */
  uint32_t nwords;
  uint32_t count;
} pending_ring;

static __thread pending_ring *tl_rings;
static __thread uint32_t tl_nrings;
static __thread uint32_t tl_total; /* activations noted on this thread: 0 keeps the reap hook to one load */

static pending_ring *pending_of(uk_ring *r, bool create) {
  for (uint32_t i = 0; i < tl_nrings; i++)
    if (tl_rings[i].r == r) return &tl_rings[i];
  if (!create) return NULL;
  pending_ring *n = realloc(tl_rings, (tl_nrings + 1) * sizeof *n);
  if (!n) return NULL;
  tl_rings = n;
  memset(&n[tl_nrings], 0, sizeof *n);
  n[tl_nrings].r = r;
  return &n[tl_nrings++];
}

static void pending_drop(pending_ring *p) {
  free(p->bits);
  *p = tl_rings[--tl_nrings];
  if (tl_nrings == 0) {
    free(tl_rings);
    tl_rings = NULL;
  }
}

static void note_fd_result(uk_ring *r, uint32_t slot) {
  if (slot >= UK_MAX_SLOTS) return;
  pending_ring *p = pending_of(r, true);
  if (!p) return;
  uint32_t w = slot >> 6;
  if (w >= p->nwords) {
    uint32_t n = p->nwords ? p->nwords : 4;
    while (n <= w) n *= 2;
    uint64_t *b = realloc(p->bits, n * sizeof *b);
    if (!b) return;
    memset(b + p->nwords, 0, (n - p->nwords) * sizeof *b);
    p->bits = b;
    p->nwords = n;
  }
  uint64_t m = 1ull << (slot & 63);
  if (p->bits[w] & m) return;
  p->bits[w] |= m;
  p->count++;
  tl_total++;
}

void uk_fdtrack_submit(uk_ring *r, unsigned from, unsigned to) {
  for (unsigned i = from; i != to; i++) {
    const struct io_uring_sqe *sqe = &r->sqes[i & r->sq_mask];
    uint8_t op = sqe->opcode;
    if (op != IORING_OP_ACCEPT && op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2 && op != IORING_OP_CLOSE)
      continue;
    /* splice_fd_in is file_index for these opcodes: non-zero means a direct
     * (registered-table) descriptor, not a process fd. */
    if (sqe->splice_fd_in != 0) continue;
    if (op == IORING_OP_CLOSE) {
      uk_fdtrack_remove(sqe->fd);
      continue;
    }
    if (((sqe->user_data >> 32) & 3u) == UK_KIND_OP) note_fd_result(r, (uint32_t)sqe->user_data);
  }
}

void uk_fdtrack_cqe(uk_ring *r, const struct io_uring_cqe *cqe) {
  if (tl_total == 0) return;
  uint32_t slot = (uint32_t)cqe->user_data;
  if (slot == UK_SLOT_MESSAGE || ((cqe->user_data >> 32) & 3u) != UK_KIND_OP) return;
  pending_ring *p = pending_of(r, false);
  if (!p || (slot >> 6) >= p->nwords) return;
  uint64_t m = 1ull << (slot & 63);
  if (!(p->bits[slot >> 6] & m)) return;
  if (cqe->res >= 0) uk_fdtrack_add(r->env, cqe->res);
  if (cqe->flags & IORING_CQE_F_MORE) return;
  p->bits[slot >> 6] &= ~m;
  tl_total--;
  if (--p->count == 0) pending_drop(p);
}

void uk_fdtrack_forget_ring(uk_ring *r) {
  pending_ring *p = pending_of(r, false);
  if (!p) return;
  tl_total -= p->count;
  pending_drop(p);
}

/* ---- teardown ---------------------------------------------------------------- */

/* Per env: the original helpers (called by the wrappers) and the env itself. */
typedef struct wrapped {
  napi_ref socket_fn, pipe_fn;
  napi_env env;
} wrapped;

static void env_cleanup(void *arg) {
  wrapped *w = arg;
  napi_env env = w->env;
  size_t n = 0, cap = 0;
  fd_entry *mine = NULL;
  int *fds = NULL;
  pthread_mutex_lock(&fd_lock);
  for (size_t fd = 0; fd < fd_cap; fd++) {
    if (fd_table[fd].owner != env) continue;
    if (n == cap) {
      size_t c = cap ? cap * 2 : 64;
      fd_entry *a = realloc(mine, c * sizeof *a);
      int *b = realloc(fds, c * sizeof *b);
      if (a) mine = a;
      if (b) fds = b;
      if (!a || !b) break;
      cap = c;
    }
    mine[n] = fd_table[fd];
    fds[n++] = (int)fd;
    fd_table[fd].owner = NULL;
  }
  pthread_mutex_unlock(&fd_lock);
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    /* The same file as when tracked, or a recycled number: leave it alone. */
    if (fstat(fds[i], &st) == 0 && (uint64_t)st.st_dev == mine[i].dev && (uint64_t)st.st_ino == mine[i].ino)
      close(fds[i]);
  }
  free(mine);
  free(fds);
  free(w);
}

/* ---- wrapped socket/pipe helpers ------------------------------------------------ */

static napi_value call_original(napi_env env, napi_callback_info info, bool pipe) {
  size_t argc = 4;
  napi_value argv[4], self, fn, out;
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, &self, &data) != napi_ok) return NULL;
  wrapped *w = data;
  if (napi_get_reference_value(env, pipe ? w->pipe_fn : w->socket_fn, &fn) != napi_ok || !fn) return NULL;
  if (napi_call_function(env, self, fn, argc, argv, &out) != napi_ok) return NULL;
  return out;
}

static void track_value(napi_env env, napi_value v) {
  int32_t fd;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_number && napi_get_value_int32(env, v, &fd) == napi_ok && fd >= 0)
    uk_fdtrack_add(env, fd);
}

/* socket(domain, type, protocol) -> fd | -errno, the fd tracked. */
static napi_value js_socket_tracked(napi_env env, napi_callback_info info) {
  napi_value out = call_original(env, info, false);
  if (out) track_value(env, out);
  return out;
}

/* pipe(size) -> [r, w] | -errno, both tracked. */
static napi_value js_pipe_tracked(napi_env env, napi_callback_info info) {
  napi_value out = call_original(env, info, true);
  bool is = false;
  if (out && napi_is_array(env, out, &is) == napi_ok && is) {
    for (uint32_t i = 0; i < 2; i++) {
      napi_value e;
      if (napi_get_element(env, out, i, &e) == napi_ok) track_value(env, e);
    }
  }
  return out;
}

/* forgetFd(fd): the caller closed (or is about to close) `fd` without IORING_OP_CLOSE. */
static napi_value js_forget_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 &&
      napi_get_value_int32(env, argv[0], &fd) == napi_ok)
    uk_fdtrack_remove(fd);
  return NULL;
}

/* trackedFds() -> the fds this env would close at teardown, ascending. */
static napi_value js_tracked_fds(napi_env env, napi_callback_info info) {
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) return NULL;
  uint32_t n = 0;
  pthread_mutex_lock(&fd_lock);
  for (size_t fd = 0; fd < fd_cap; fd++) {
    if (fd_table[fd].owner != env) continue;
    napi_value v;
    napi_create_int32(env, (int32_t)fd, &v);
    napi_set_element(env, arr, n++, v);
  }
  pthread_mutex_unlock(&fd_lock);
  return arr;
}

void uk_fdtrack_init(napi_env env, napi_value exports) {
  wrapped *w = calloc(1, sizeof *w);
  if (!w) return;
  w->env = env;
  napi_value orig, fn;
  if (napi_get_named_property(env, exports, "socket", &orig) == napi_ok &&
      napi_create_reference(env, orig, 1, &w->socket_fn) == napi_ok &&
      napi_create_function(env, "socket", NAPI_AUTO_LENGTH, js_socket_tracked, w, &fn) == napi_ok)
    napi_set_named_property(env, exports, "socket", fn);
  if (napi_get_named_property(env, exports, "pipe", &orig) == napi_ok &&
      napi_create_reference(env, orig, 1, &w->pipe_fn) == napi_ok &&
      napi_create_function(env, "pipe", NAPI_AUTO_LENGTH, js_pipe_tracked, w, &fn) == napi_ok)
    napi_set_named_property(env, exports, "pipe", fn);
  if (napi_create_function(env, "forgetFd", NAPI_AUTO_LENGTH, js_forget_fd, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "forgetFd", fn);
  if (napi_create_function(env, "trackedFds", NAPI_AUTO_LENGTH, js_tracked_fds, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "trackedFds", fn);
  napi_add_env_cleanup_hook(env, env_cleanup, w);
}
