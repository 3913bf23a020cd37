/*
 * N-API surface of the addon. JavaScript checks arguments and owns policy;
 * this file checks again (types, ranges, buffer bounds) and never trusts a
 * value that reaches the kernel.
 *
 * Functions (all take the ring handle first, except create):
 *   create(entries, cqEntries, wantFlags, stage, out, stats, turn, onWake,
 *          allow?, attachWqId?) -> handle | -errno
 *       attachWqId: registry id of a live ring whose io-wq to attach to
 *       (IORING_SETUP_ATTACH_WQ); -EBADFD when no live ring has that id
 *   setBusyPoll(h, us): spin up to `us` microseconds before the loop sleeps
 *   info(h) -> [setupFlags, features, sqEntries, cqEntries, fd]
 *   probe(h) -> Uint8Array(256) of supported IORING_OP_* | -errno
 *   flush(h, pins) -> number of completion records written to `out`;
 *       pins[i] is the memory (view, path, array of views) of staged record i
 *   reap(h)  -> number of completion records written to `out`
 *   setRef(h, bool)
 *   destroy(h)
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include "uk.h"
#include "fdtrack.h"
#include "handle.h"
#include "iowq.h"
#include "net.h"
#include "prep.h"
#include "register.h"
#include "registry.h"
#include "ring.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>



static void box_unref(uk_box *b) {
  if (--b->refs == 0) free(b);
}

static void on_external_finalize(napi_env env, void *data, void *hint) {
  box_unref((uk_box *)data);
}

static bool typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok) return false;
  return t == want && *data != NULL;
}

/* ---- libuv integration ------------------------------------------------ */

static void handle_closed(uv_handle_t *h) {
  uk_box *b = (uk_box *)h->data;
  free(h);
  if (--b->closing_handles == 0) {
    if (b->ring.cleanup) {
      napi_remove_async_cleanup_hook(b->ring.cleanup);
      b->ring.cleanup = NULL;
    }
    box_unref(b);
  }
}

/* Calls the ring's JS onWake (reap and dispatch) inside a callback scope. */
static void call_wake(uk_ring *r) {
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, self, result;
  if (napi_get_reference_value(env, r->on_wake, &fn) == napi_ok && fn &&
      napi_get_reference_value(env, r->js_self, &self) == napi_ok && self) {
    napi_status s = napi_make_callback(env, r->actx, self, fn, 0, NULL, &result);
    if (s == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  uk_box *b = (uk_box *)p->data;
  uk_ring *r = &b->ring;
  if (r->destroyed) return;
  uint64_t v;
  ssize_t rd = read(r->efd, &v, sizeof v);
  (void)rd;
  call_wake(r);
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#define cq_tail_acquire(r) atomic_load_explicit((_Atomic unsigned *)(r)->cq_ktail, memory_order_acquire)

/* Arms the eventfd for a sleep: full barrier, then the CQ is checked once
 * more; completions already there (posted while it was disarmed, so without
 * a signal) get a signal of our own, so epoll cannot sleep over them. */
static void arm_or_kick(uk_ring *r) {
  if (atomic_load_explicit((_Atomic unsigned *)r->sq_kflags, memory_order_acquire) & IORING_SQ_TASKRUN)
    uk_ring_enter(r, 0, 0, IORING_ENTER_GETEVENTS);
  uk_eventfd_enable(r, true);
  if (cq_tail_acquire(r) != *r->cq_khead) {
    uint64_t one = 1;
    ssize_t w = write(r->efd, &one, sizeof one);
    (void)w;
  }
}

/* Opt-in busy poll (setBusyPoll), run from the prepare phase, i.e. right
 * before libuv would block in epoll_wait.
 *
 * In busy-poll mode the eventfd stays disarmed while the thread is awake
 * (reaping does not re-arm it), so senders' kernels skip the eventfd signal
 * per message; this function is the one place that arms it, on every path
 * that may lead to a sleep (arm_or_kick: no lost wake-up).
 *
 * It spins on the CQ tail only while all of these hold: JS waits for
 * something from this ring (turn[1]: operations in flight or a message
 * consumer), the loop would otherwise block (uv_backend_timeout != 0) and
 * the CQ is empty. The whole stay is bounded by busy_poll_ns and by the next
 * timer. Every ~256 iterations the loop's epoll set is polled without
 * blocking: any other ready fd ends the spin at once. A CQE seen while
 * spinning is dispatched from here (JS onWake), then the spin resumes (the
 * reply to what JS just sent is the likely next CQE), saving the sleep, the
 * cross-core wake-up, epoll_wait and the eventfd read. */
static void busy_poll(uk_box *b) {
  uk_ring *r = &b->ring;
  uint64_t t0 = now_ns(), budget = b->busy_poll_ns;
  int epfd = uv_backend_fd(r->loop);
  bool first = true;
  for (;;) {
    if (r->destroyed) return;
    unsigned head = *r->cq_khead;
    int timeout = uv_backend_timeout(r->loop);
    if (first && timeout > 0 && (uint64_t)timeout * 1000000u < budget) budget = (uint64_t)timeout * 1000000u;
    first = false;
    /* The loop will not block in this turn (an immediate, a pending
     * callback, a closing handle): nothing to arm, nothing to spin for. The
     * next turn's prepare phase comes before any sleep. (The libuv timeout is
     * computed right after the prepare phase; later prepare callbacks can
     * only make it 0, never turn a 0 into a sleep.) */
    if (timeout == 0) return;
    if (!b->busy_poll_ns || !r->turn[1] || now_ns() - t0 >= budget) {
      arm_or_kick(r);
      return;
    }
    bool hit = cq_tail_acquire(r) != head; /* arrived while JS ran: dispatch now */
    b->spins += 1;
    uk_eventfd_enable(r, false);
    for (unsigned i = 1; !hit; i++) {
      if (cq_tail_acquire(r) != head) {
        hit = true;
        break;
      }
      /* COOP_TASKRUN: completions that need task work are flushed by an enter. */
      if (atomic_load_explicit((_Atomic unsigned *)r->sq_kflags, memory_order_acquire) & IORING_SQ_TASKRUN) {
        uk_ring_enter(r, 0, 0, IORING_ENTER_GETEVENTS);
        continue;
      }
      cpu_relax();
      if ((i & 15) == 0 && now_ns() - t0 >= budget) break;
      if ((i & 255) == 0 && epfd >= 0) {
        struct pollfd pfd = { .fd = epfd, .events = POLLIN, .revents = 0 };
        if (poll(&pfd, 1, 0) > 0) break; /* other I/O is ready: let the loop run it */
      }
    }
    if (!hit) {
      arm_or_kick(r);
      return;
    }
    b->spin_hits += 1;
    call_wake(r);
  }
}

/* Once per loop turn, before libuv polls: count the turn (fairness budget),
 * apply a pending un-ref (turn[1] = JS wants the loop kept alive,
 * turn[2] = the poll handle is ref'd), then the opt-in busy poll. */
static void on_prepare(uv_prepare_t *p) {
  uk_box *b = (uk_box *)p->data;
  uk_ring *r = &b->ring;
  r->turn[0]++;
  if (!r->turn[1] && r->turn[2]) {
    uv_unref((uv_handle_t *)r->poll);
    r->turn[2] = 0;
  }
  if (b->busy_poll_ns) busy_poll(b);
}

/* Tear down native state. Called by destroy() from JS (nothing in flight:
 * JS has cancelled and reaped everything) and by the env cleanup hook
 * (thread or process exit: cancels and reaps here, without JS). */
static void ring_teardown(uk_box *b, bool from_js) {
  uk_ring *r = &b->ring;
  if (r->destroyed) return;
  r->destroyed = true;
  if (r->ring_id) uk_registry_remove(r->ring_id);
  /* Giving up is safe from JS (nothing JS-owned is in flight) and on the
   * process's main thread (the process is exiting); a worker thread's
   * in-flight buffers die with its isolate, so it waits. */
  bool may_give_up = from_js || getpid() == (pid_t)syscall(SYS_gettid);
  if (uk_ring_drain_all(r, may_give_up)) {
    uk_ring_unmap(r);
    uk_pbuf_release_all(r, r->env, from_js);
  }
  if (from_js) {
    napi_delete_reference(r->env, r->on_wake);
    napi_delete_reference(r->env, r->js_self);
    for (int i = 0; i < 4; i++) napi_delete_reference(r->env, r->buffers[i]);
    napi_async_destroy(r->env, r->actx);
  }
  r->stage = r->out = r->turn = NULL;
  r->stats = NULL;
  b->closing_handles = 2;
  uv_close((uv_handle_t *)r->poll, handle_closed);
  uv_close((uv_handle_t *)r->prepare, handle_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  uk_box *b = (uk_box *)arg;
  if (b->ring.destroyed) return;
  /* Keep the box alive for the JS-side stats pointer: point stats at a
   * private scratch area since the JS Float64Array may already be gone. */
  static double scratch[UK_STAT__COUNT];
  b->ring.stats = scratch;
  ring_teardown(b, false);
}

/* ---- exported functions ---------------------------------------------- */

/* uk_ring_init attached to the io-wq of the ring fd `wq_fd` (uk_registry_with_fd's callback). */
struct attach_args {
  uk_ring *r;
  unsigned entries, cq_entries, want;
  const uint8_t *allow;
  const char **why;
};
static int attach_init(int wq_fd, void *arg) {
  struct attach_args *a = arg;
  return uk_ring_init(a->r, a->entries, a->cq_entries, a->want, a->allow, wq_fd, a->why);
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  /* argv[8] (optional): Uint8Array(256) of allowed IORING_OP_* (IORING_REGISTER_RESTRICTIONS). */
  const uint8_t *allow = NULL;
  if (argc >= 9) {
    void *a;
    size_t alen;
    napi_valuetype t;
    napi_typeof(env, argv[8], &t);
    if (t != napi_undefined) {
      if (!typed_array(env, argv[8], napi_uint8_array, &a, &alen) || alen != 256)
        return throw_type(env, "ERR_INVALID_ARG_TYPE", "allow must be a Uint8Array of 256 entries");
      allow = a;
    }
  }
  if (argc < 8) return throw_type(env, "ERR_MISSING_ARGS", "create() needs 8 arguments");
  /* argv[9] (optional): registry id of the ring to attach to (IORING_SETUP_ATTACH_WQ); 0 = none. */
  uint32_t attach_id = 0;
  if (argc >= 10) {
    napi_valuetype at;
    napi_typeof(env, argv[9], &at);
    if (at != napi_undefined && napi_get_value_uint32(env, argv[9], &attach_id) != napi_ok)
      return throw_type(env, "ERR_INVALID_ARG_TYPE", "attachWqId must be a number");
  }
  uint32_t entries, cq_entries, want;
  if (napi_get_value_uint32(env, argv[0], &entries) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &cq_entries) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &want) != napi_ok)
    return throw_type(env, "ERR_INVALID_ARG_TYPE", "entries, cqEntries and flags must be numbers");
  if (entries < 1 || entries > 32768 || cq_entries < entries || cq_entries > 65536 * 2)
    return throw_type(env, "ERR_OUT_OF_RANGE", "entries out of range");
  void *stage, *out, *stats, *turn;
  size_t stage_len, out_len, stats_len, turn_len;
  if (!typed_array(env, argv[3], napi_int32_array, &stage, &stage_len) ||
      !typed_array(env, argv[4], napi_int32_array, &out, &out_len) ||
      !typed_array(env, argv[5], napi_float64_array, &stats, &stats_len) ||
      !typed_array(env, argv[6], napi_int32_array, &turn, &turn_len))
    return throw_type(env, "ERR_INVALID_ARG_TYPE", "stage/out/turn must be Int32Array, stats Float64Array");
  if (stage_len < UK_STAGE_HEADER_WORDS + UK_DESC_WORDS || out_len < UK_CQE_WORDS || stats_len < UK_STAT__COUNT ||
      turn_len < 3)
    return throw_type(env, "ERR_OUT_OF_RANGE", "shared buffers too small");
  uint32_t stage_cap = (uint32_t)((stage_len - UK_STAGE_HEADER_WORDS) / UK_DESC_WORDS);
  uint32_t out_cap = (uint32_t)(out_len / UK_CQE_WORDS);
  if (out_cap < 2 * stage_cap)
    return throw_type(env, "ERR_OUT_OF_RANGE", "out buffer must hold two completions per staged record");
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[7], &t));
  if (t != napi_function) return throw_type(env, "ERR_INVALID_ARG_TYPE", "onWake must be a function");

  uk_box *b = calloc(1, sizeof(uk_box));
  if (!b) return num(env, -ENOMEM);
  uk_ring *r = &b->ring;
  r->fd = r->efd = -1;
  r->stats = stats;
  const char *why;
  int e;
  if (attach_id != 0) {
    /* Under the registry lock across io_uring_setup: the target cannot be torn
     * down (its fd closed and perhaps reused) between the lookup and the kernel's check. */
    struct attach_args a = { r, entries, cq_entries, want, allow, &why };
    e = uk_registry_with_fd(attach_id, attach_init, &a);
  } else {
    e = uk_ring_init(r, entries, cq_entries, want, allow, -1, &why);
  }
  if (e < 0) {
    free(b);
    return num(env, e);
  }
  r->stage = stage;
  r->stage_cap = stage_cap;
  r->out = out;
  r->out_cap = out_cap;
  r->turn = turn;
  r->env = env;
  memset(stage, 0, UK_STAGE_HEADER_WORDS * sizeof(int32_t));

  napi_value ext;
  if (napi_create_external(env, b, on_external_finalize, NULL, &ext) != napi_ok) {
    uk_ring_unmap(r);
    free(b);
    return NULL;
  }
  b->refs = 2; /* external + lifecycle */
  napi_create_reference(env, argv[7], 1, &r->on_wake);
  napi_create_reference(env, ext, 1, &r->js_self);
  for (int i = 0; i < 4; i++) napi_create_reference(env, argv[3 + i], 1, &r->buffers[i]);
  napi_value name;
  napi_create_string_utf8(env, "uringkit:ring", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->actx);

  napi_get_uv_event_loop(env, &r->loop);
  r->poll = calloc(1, sizeof(uv_poll_t));
  r->prepare = calloc(1, sizeof(uv_prepare_t));
  uv_poll_init(r->loop, r->poll, r->efd);
  r->poll->data = b;
  uv_poll_start(r->poll, UV_READABLE, on_poll);
  uv_unref((uv_handle_t *)r->poll);
  uv_prepare_init(r->loop, r->prepare);
  r->prepare->data = b;
  uv_prepare_start(r->prepare, on_prepare);
  uv_unref((uv_handle_t *)r->prepare);
  napi_add_async_cleanup_hook(env, on_env_cleanup, b, &r->cleanup);
  /* Completions are reaped by JS; the eventfd only matters while idle. */
  uk_eventfd_enable(r, true);
  return ext;
}

static napi_value js_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  double vals[] = { r->setup_flags, r->features, r->sq_entries, r->cq_entries, r->fd };
  CHECK(napi_create_array_with_length(env, 5, &arr));
  for (uint32_t i = 0; i < 5; i++) napi_set_element(env, arr, i, num(env, vals[i]));
  return arr;
}

static napi_value js_probe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ab, out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  void *data;
  CHECK(napi_create_arraybuffer(env, 256, &data, &ab));
  memset(data, 0, 256);
  int e = uk_probe(r, data, 256);
  if (e < 0) return num(env, e);
  CHECK(napi_create_typedarray(env, napi_uint8_array, 256, ab, 0, &out));
  return out;
}

/* Submit everything staged, then reap. Returns the number of completion
 * records in `out`; stage[UK_STAGE_COUNT] keeps the records the kernel could not take
 * now and stage[UK_STAGE_REFUSED] the submit error (0 or -errno). */
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  /* The ring's own pin array (an Array; anything else fails per element in
   * prep.c, which refuses a record whose pin is not what it needs). */
  napi_value pins = argc >= 2 ? argv[1] : NULL;
  uint32_t rejected = 0;
  int err = uk_stage_flush(r, env, pins, &rejected);
  if (err == 0) {
    /* The eventfd stays quiet while we are busy: inline completions need no
     * wake-up. uk_reap re-enables it once the CQ is seen empty. */
    uk_eventfd_enable(r, false);
    err = uk_ring_submit(r, 0);
    if (err > 0) err = 0;
  }
  r->stage[UK_STAGE_REFUSED] = err;
  napi_value out;
  /* Busy-poll mode: the prepare phase arms the eventfd before any sleep. */
  napi_create_uint32(env, uk_reap(r, rejected, ((uk_box *)r)->busy_poll_ns == 0), &out);
  return out;
}

static napi_value js_reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  return num(env, uk_reap(r, 0, ((uk_box *)r)->busy_poll_ns == 0));
}

static napi_value js_set_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  if (on) uv_ref((uv_handle_t *)r->poll);
  else uv_unref((uv_handle_t *)r->poll);
  r->turn[2] = on ? 1 : 0;
  return NULL;
}

static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  ring_teardown((uk_box *)r, true);
  return NULL;
}

/* registerRing(h, id) -> 0: makes the ring reachable for messages under `id`. */
static napi_value js_register_ring(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  uint32_t id;
  if (napi_get_value_uint32(env, argv[1], &id) != napi_ok || id == 0) return num(env, -EINVAL);
  if (r->ring_id) uk_registry_remove(r->ring_id);
  r->ring_id = id;
  uk_registry_add(id, r->fd);
  return num(env, 0);
}

/* ringFd(id) -> fd of the live ring with that id, or -EBADFD. */
static napi_value js_ring_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t id;
  if (napi_get_value_uint32(env, argv[0], &id) != napi_ok) return num(env, -EINVAL);
  int fd = uk_registry_find(id);
  return num(env, fd < 0 ? -EBADFD : fd);
}

/* setBusyPoll(h, us) -> 0: spin up to `us` µs before the loop sleeps (0: off). */
static napi_value js_set_busy_poll(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  uint32_t us;
  if (argc < 2 || napi_get_value_uint32(env, argv[1], &us) != napi_ok || us > 1000000)
    return throw_type(env, "ERR_OUT_OF_RANGE", "busy poll must be 0..1000000 microseconds");
  ((uk_box *)r)->busy_poll_ns = (uint64_t)us * 1000u;
  /* Leaving busy-poll mode: reaping re-arms from now on; arm now as well. */
  if (us == 0) arm_or_kick(r);
  return num(env, 0);
}

/* busyPollStats(h) -> [spins, spinsThatSawACompletion]. */
static napi_value js_busy_poll_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  uk_box *b = (uk_box *)r;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, num(env, b->spins));
  napi_set_element(env, arr, 1, num(env, b->spin_hits));
  return arr;
}

static napi_value js_register_buf_ring(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  uint32_t bgid, entries, size;
  if (napi_get_value_uint32(env, argv[1], &bgid) != napi_ok || bgid > 0xffff ||
      napi_get_value_uint32(env, argv[2], &entries) != napi_ok || napi_get_value_uint32(env, argv[3], &size) != napi_ok)
    return num(env, -EINVAL);
  return num(env, uk_pbuf_register(r, env, (uint16_t)bgid, entries, size, argv[4]));
}

static napi_value js_unregister_buf_ring(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  uint32_t bgid;
  if (napi_get_value_uint32(env, argv[1], &bgid) != napi_ok || bgid > 0xffff) return num(env, -EINVAL);
  return num(env, uk_pbuf_unregister(r, env, (uint16_t)bgid));
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
    { "create", js_create }, { "info", js_info },     { "probe", js_probe },     { "flush", js_flush },
    { "reap", js_reap },     { "setRef", js_set_ref }, { "destroy", js_destroy },
    { "registerBufRing", js_register_buf_ring }, { "unregisterBufRing", js_unregister_buf_ring },
    { "registerRing", js_register_ring }, { "ringFd", js_ring_fd },
    { "setBusyPoll", js_set_busy_poll }, { "busyPollStats", js_busy_poll_stats },
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  napi_value v;
  napi_create_uint32(env, UK_DESC_WORDS, &v);
  napi_set_named_property(env, exports, "DESC_WORDS", v);
  napi_create_uint32(env, UK_STAGE_HEADER_WORDS, &v);
  napi_set_named_property(env, exports, "STAGE_HEADER_WORDS", v);
  napi_create_uint32(env, UK_CQE_WORDS, &v);
  napi_set_named_property(env, exports, "CQE_WORDS", v);
  uk_net_init(env, exports);
  uk_register_init(env, exports);
  uk_fdtrack_init(env, exports); /* after uk_net_init: wraps its socket/pipe */
  uk_iowq_init(env, exports);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
