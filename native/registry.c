/*
 * The process-wide registry of live rings (ring-to-ring messages and
 * IORING_SETUP_ATTACH_WQ): ring id -> ring fd, shared by every thread.
 */
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

/* Maps a ring's random 32-bit id to its fd while the ring lives, so that a
 * sender never aims IORING_OP_MSG_RING at a closed ring (or at whatever file
 * reused its fd). Shared by every thread of the process. */
#define UK_REGISTRY_MAX 1024
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uint32_t id; int fd; } registry[UK_REGISTRY_MAX];
/* Bumped (under the lock) by every change: a thread's cached lookup is valid
 * only while the generation it was made under is current. */
static _Atomic uint32_t registry_gen;
static __thread struct { uint32_t id, gen; int fd; } registry_cache;

void uk_registry_add(uint32_t id, int fd) {
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < UK_REGISTRY_MAX; i++)
    if (registry[i].id == 0) {
      registry[i].id = id;
      registry[i].fd = fd;
      break;
    }
  atomic_fetch_add_explicit(&registry_gen, 1, memory_order_release);
  pthread_mutex_unlock(&registry_lock);
}

void uk_registry_remove(uint32_t id) {
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < UK_REGISTRY_MAX; i++)
    if (registry[i].id == id) registry[i].id = 0;
  atomic_fetch_add_explicit(&registry_gen, 1, memory_order_release);
  pthread_mutex_unlock(&registry_lock);
}

/* The fd of the live ring registered under `id`, or -1. Used when an
 * IORING_OP_MSG_RING SQE is built, so the fd is resolved right before the
 * kernel sees it. */
int uk_registry_find(uint32_t id) {
  int fd = -1;
  if (id == 0) return -1;
  /* Fast path (a stream of messages to one ring): the last answer, if the
   * registry has not changed since. No weaker than the locked lookup: either
   * way the target may close right after the answer; the id check on the
   * receiving side counts such a message as dropped. */
  if (registry_cache.id == id && registry_cache.gen == atomic_load_explicit(&registry_gen, memory_order_acquire))
    return registry_cache.fd;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < UK_REGISTRY_MAX; i++)
    if (registry[i].id == id) {
      fd = registry[i].fd;
      break;
    }
  if (fd >= 0) {
    registry_cache.id = id;
    registry_cache.fd = fd;
    registry_cache.gen = atomic_load_explicit(&registry_gen, memory_order_relaxed);
  }
  pthread_mutex_unlock(&registry_lock);
  return fd;
}

/* Calls fn(fd, arg) with the registry locked, so the ring registered under
 * `id` cannot be torn down (its fd closed and perhaps reused) meanwhile;
 * returns fn's result, or -EBADFD when no live ring has that id. */
int uk_registry_with_fd(uint32_t id, int (*fn)(int fd, void *arg), void *arg) {
  int e = -EBADFD;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < UK_REGISTRY_MAX; i++)
    if (id != 0 && registry[i].id == id) {
      e = fn(registry[i].fd, arg);
      break;
    }
  pthread_mutex_unlock(&registry_lock);
  return e;
}
