/*
 * io-wq worker caps (IORING_REGISTER_IOWQ_MAX_WORKERS, Linux 5.15).
 *
 * Operations the kernel cannot complete inline run on io-wq worker threads
 * ("iou-wrk-<tid>"). Bounded work (regular files, block devices) is capped by
 * the kernel at min(SQ entries, 4 x CPUs); unbounded work (splice to a
 * socket or pipe, reads and writes of non-regular files that cannot be polled)
 * only by RLIMIT_NPROC, so a thousand clients that never read can cost a
 * thousand kernel threads. Without SQPOLL io-wq belongs to the submitting
 * thread: with one ring per thread (single issuer), the cap is per ring.
 * Work over the cap waits in io-wq's queue, where a cancel (deadline, abort)
 * removes it at once.
 *
 *   setMaxIoWorkers(h, bounded, unbounded) -> [bounded, unbounded] in effect | -errno
 *       0 leaves that count unchanged.
 */
#define _GNU_SOURCE
#include "iowq.h"
#include "handle.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel clamps unbounded to RLIMIT_NPROC; this only keeps the value sane. */
#define UK_MAX_IO_WORKERS 65536u

static napi_value num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value js_set_max_io_workers(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) return num(env, -EINVAL);
  uk_ring *r = uk_ring_of_handle(env, argv[0]);
  if (!r) return NULL;
  if (r->fd < 0) return num(env, -EBADF);
  uint32_t b, u;
  if (napi_get_value_uint32(env, argv[1], &b) != napi_ok || napi_get_value_uint32(env, argv[2], &u) != napi_ok ||
      b > UK_MAX_IO_WORKERS || u > UK_MAX_IO_WORKERS)
    return num(env, -EINVAL);
  unsigned vals[2] = { b, u };
  if (syscall(__NR_io_uring_register, r->fd, UK_REGISTER_IOWQ_MAX_WORKERS, vals, 2) < 0) return num(env, -errno);
  /* {0, 0} changes nothing and reads back what is in effect now. */
  unsigned cur[2] = { 0, 0 };
  if (syscall(__NR_io_uring_register, r->fd, UK_REGISTER_IOWQ_MAX_WORKERS, cur, 2) < 0) return num(env, -errno);
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, num(env, cur[0]));
  napi_set_element(env, arr, 1, num(env, cur[1]));
  return arr;
}

void uk_iowq_init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "setMaxIoWorkers", NAPI_AUTO_LENGTH, js_set_max_io_workers, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "setMaxIoWorkers", fn);
}
