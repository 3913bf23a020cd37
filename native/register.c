/*
 * Registered resources: a region of page-aligned memory registered as the
 * ring's fixed buffer (IORING_REGISTER_BUFFERS, READ_FIXED/WRITE_FIXED) and
 * the registered file table (IORING_REGISTER_FILES2 sparse, else FILES with
 * -1 entries; IOSQE_FIXED_FILE).
 *
 * Functions (exported from the addon):
 *   alignOffset(arrayBuffer) -> offset of its first 4 KiB boundary | -errno
 *   registerBuffers(h, arrayBuffer, offset, length) -> 0 | -errno
 *       registers that 4 KiB-aligned window of the ArrayBuffer as buffer 0
 *   unregisterBuffers(h) -> 0 | -errno
 *   registerFiles(h, count) -> 0 | -errno      (a sparse table of `count` entries)
 *   updateFiles(h, index, fd) -> number updated | -errno
 *       installs `fd` (or -1) at `index` immediately; removal in SQ order is
 *       the UK_DESC_FILES_UPDATE descriptor instead
 *   unregisterFiles(h) -> 0 | -errno
 *
 * Provided-buffer rings (IORING_REGISTER_PBUF_RING, 5.19): uk_pbuf_* below,
 * exported from the addon by addon.c as
 *   registerBufRing(h, bgid, entries, bufSize, arrayBuffer) / unregisterBufRing(h, bgid) -> 0 | -errno
 *
 * Memory-safety contract: the kernel pins the pages of a registered region
 * (pin_user_pages, FOLL_LONGTERM) when it is registered and unpins them when
 * it is unregistered or the ring is freed; fixed operations reach the memory
 * through those pinned pages. The region lies in the backing store of a
 * fixed-length ArrayBuffer, which V8 never moves (only on-heap typed arrays
 * move, and resizable buffers are refused) and frees only once no JS object
 * refers to it: while any view (or an operation's pin, held by the slot until
 * the final CQE) refers to it, it stays allocated. (Not an external
 * ArrayBuffer over our own mmap: Node 22+ aborts at exit when one of those is
 * also marked untransferable.) JavaScript
 * (src/fs/registered.ts) keeps the ArrayBuffer referenced while it is
 * registered, so the address range cannot be unmapped and reused by other
 * memory that the READ_FIXED bounds check would then mistake for the region.
 * At ring teardown the ring fd is closed only after every operation has been
 * reaped, which unregisters everything in the kernel.
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include "register.h"
#include "handle.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IORING_REGISTER_FILES2
#define IORING_REGISTER_FILES2 13
#endif
#ifndef IORING_RSRC_REGISTER_SPARSE
#define IORING_RSRC_REGISTER_SPARSE (1U << 0)
#endif

/* The limit of one registered buffer (the kernel's SZ_1G). */
#define UK_MAX_FIXED_BYTES (1UL << 30)
#define UK_MAX_FILES 32768u
/* Buffer alignment: 4 KiB suits O_DIRECT on every common device (logical
 * blocks of 512 or 4096 bytes) whatever the CPU's page size. */
#define UK_ALIGN ((uintptr_t)4096)

/* The ring behind a handle, open (its fd not yet closed by teardown). */
static uk_ring *ring_of(napi_env env, napi_value v) {
  uk_ring *r = uk_ring_of_handle(env, v);
  if (r && r->fd < 0) {
    napi_throw_error(env, "ERR_RING_CLOSED", "the ring is closed");
    return NULL;
  }
  return r;
}

static int sys_register(int fd, unsigned op, const void *arg, unsigned nr) {
  long ret = syscall(__NR_io_uring_register, fd, op, arg, nr);
  return ret < 0 ? -errno : (int)ret;
}

/* ---- alignment ------------------------------------------------------------ */

/* alignOffset(arrayBuffer) -> bytes from the start of its memory to the first
 * UK_ALIGN boundary (JavaScript allocates UK_ALIGN bytes more than it needs). */
static napi_value js_align_offset(napi_env env, napi_callback_info info) {
  ARGS(1);
  bool is = false;
  void *data = NULL;
  size_t len = 0;
  if (napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is ||
      napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok || !data)
    return num(env, -EINVAL);
  uintptr_t off = (UK_ALIGN - ((uintptr_t)data & (UK_ALIGN - 1))) & (UK_ALIGN - 1);
  return num(env, off > len ? -EINVAL : (double)off);
}

/* ---- registered buffers --------------------------------------------------- */

/* registerBuffers(h, arrayBuffer, offset, length): registers the window
 * [offset, offset + length) of the ArrayBuffer, which must start on a
 * UK_ALIGN boundary, as buffer 0. */
static napi_value js_register_buffers(napi_env env, napi_callback_info info) {
  ARGS(4);
  uk_ring *r = ring_of(env, argv[0]);
  if (!r) return NULL;
  if (r->fixed_base) return num(env, -EBUSY);
  bool is = false;
  void *data = NULL;
  size_t len = 0;
  double off, want;
  if (napi_is_arraybuffer(env, argv[1], &is) != napi_ok || !is ||
      napi_get_arraybuffer_info(env, argv[1], &data, &len) != napi_ok || !data || len == 0 ||
      napi_get_value_double(env, argv[2], &off) != napi_ok || napi_get_value_double(env, argv[3], &want) != napi_ok)
    return num(env, -EINVAL);
  if (!(off >= 0) || !(want >= 1) || off != (double)(size_t)off || want != (double)(size_t)want ||
      want > (double)UK_MAX_FIXED_BYTES || off + want > (double)len)
    return num(env, -EINVAL);
  uint8_t *base = (uint8_t *)data + (size_t)off;
  if (((uintptr_t)base & (UK_ALIGN - 1)) != 0) return num(env, -EINVAL);
  struct iovec iov = { .iov_base = base, .iov_len = (size_t)want };
  int e = sys_register(r->fd, IORING_REGISTER_BUFFERS, &iov, 1);
  if (e < 0) return num(env, e);
  r->fixed_base = base;
  r->fixed_len = (size_t)want;
  return num(env, 0);
}

/* Records staged before this call and built after it get plain READ/WRITE
 * (their view is no longer inside a registered region); fixed operations
 * already in flight keep the kernel's own reference to the pinned pages. */
static napi_value js_unregister_buffers(napi_env env, napi_callback_info info) {
  ARGS(1);
  uk_ring *r = ring_of(env, argv[0]);
  if (!r) return NULL;
  if (!r->fixed_base) return num(env, -ENXIO);
  int e = sys_register(r->fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
  if (e < 0) return num(env, e);
  r->fixed_base = NULL;
  r->fixed_len = 0;
  return num(env, 0);
}

/* ---- registered files ----------------------------------------------------- */

static napi_value js_register_files(napi_env env, napi_callback_info info) {
  ARGS(2);
  uk_ring *r = ring_of(env, argv[0]);
  if (!r) return NULL;
  uint32_t count;
  if (napi_get_value_uint32(env, argv[1], &count) != napi_ok || count == 0 || count > UK_MAX_FILES)
    return num(env, -EINVAL);
  if (r->files_count) return num(env, -EBUSY);
  struct io_uring_rsrc_register reg;
  memset(&reg, 0, sizeof reg);
  reg.nr = count;
  reg.flags = IORING_RSRC_REGISTER_SPARSE;
  int e = sys_register(r->fd, IORING_REGISTER_FILES2, &reg, sizeof reg);
  if (e == -EINVAL) {
    /* Before 5.19: a table of -1 entries does the same. */
    int32_t *fds = malloc(count * sizeof(int32_t));
    if (!fds) return num(env, -ENOMEM);
    for (uint32_t i = 0; i < count; i++) fds[i] = -1;
    e = sys_register(r->fd, IORING_REGISTER_FILES, fds, count);
    free(fds);
  }
  if (e < 0) return num(env, e);
  r->files_count = count;
  return num(env, 0);
}

static napi_value js_update_files(napi_env env, napi_callback_info info) {
  ARGS(3);
  uk_ring *r = ring_of(env, argv[0]);
  if (!r) return NULL;
  uint32_t index;
  int32_t fd;
  if (napi_get_value_uint32(env, argv[1], &index) != napi_ok || napi_get_value_int32(env, argv[2], &fd) != napi_ok ||
      index >= r->files_count || fd < -1)
    return num(env, -EINVAL);
  struct io_uring_files_update up;
  memset(&up, 0, sizeof up);
  up.offset = index;
  up.fds = (uint64_t)(uintptr_t)&fd;
  return num(env, sys_register(r->fd, IORING_REGISTER_FILES_UPDATE, &up, 1));
}

static napi_value js_unregister_files(napi_env env, napi_callback_info info) {
  ARGS(1);
  uk_ring *r = ring_of(env, argv[0]);
  if (!r) return NULL;
  if (!r->files_count) return num(env, -ENXIO);
  int e = sys_register(r->fd, IORING_UNREGISTER_FILES, NULL, 0);
  if (e < 0) return num(env, e);
  r->files_count = 0;
  return num(env, 0);
}

napi_value uk_register_init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
    { "alignOffset", js_align_offset },
    { "registerBuffers", js_register_buffers },
    { "unregisterBuffers", js_unregister_buffers },
    { "registerFiles", js_register_files },
    { "updateFiles", js_update_files },
    { "unregisterFiles", js_unregister_files },
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  return exports;
}

/* ---- provided-buffer rings --------------------------------------------- */

static uk_pbuf *pbuf_find(uk_ring *r, uint16_t bgid) {
  for (int i = 0; i < UK_MAX_PBUF; i++)
    if (r->pbufs[i].active && r->pbufs[i].bgid == bgid) return &r->pbufs[i];
  return NULL;
}

static inline void pbuf_add(uk_pbuf *p, uint16_t bid, uint16_t offset) {
  struct io_uring_buf *b = &p->ring->bufs[(uint16_t)(p->tail + offset) & p->mask];
  b->addr = (uint64_t)(uintptr_t)(p->base + (size_t)bid * p->buf_size);
  b->len = p->buf_size;
  b->bid = bid;
}

int uk_pbuf_register(uk_ring *r, napi_env env, uint16_t bgid, uint32_t entries, uint32_t buf_size, napi_value ab) {
  if (entries == 0 || entries > 32768 || (entries & (entries - 1)) != 0 || buf_size == 0) return -EINVAL;
  if (pbuf_find(r, bgid)) return -EEXIST;
  uk_pbuf *p = NULL;
  for (int i = 0; i < UK_MAX_PBUF; i++)
    if (!r->pbufs[i].active) {
      p = &r->pbufs[i];
      break;
    }
  if (!p) return -ENOSPC;
  void *data;
  size_t len;
  bool is = false;
  if (napi_is_arraybuffer(env, ab, &is) != napi_ok || !is) return -EINVAL;
  if (napi_get_arraybuffer_info(env, ab, &data, &len) != napi_ok || !data) return -EINVAL;
  if ((size_t)entries * buf_size > len) return -EINVAL;
  size_t ring_len = entries * sizeof(struct io_uring_buf);
  long page = sysconf(_SC_PAGESIZE);
  ring_len = (ring_len + (size_t)page - 1) & ~((size_t)page - 1);
  void *mem = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  madvise(mem, ring_len, MADV_DONTFORK);
  memset(mem, 0, ring_len);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)mem;
  reg.ring_entries = entries;
  reg.bgid = bgid;
  if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
    int e = errno;
    munmap(mem, ring_len);
    return -e;
  }
  memset(p, 0, sizeof *p);
  p->active = true;
  p->bgid = bgid;
  p->entries = entries;
  p->mask = entries - 1;
  p->buf_size = buf_size;
  p->ring = mem;
  p->ring_len = ring_len;
  p->base = data;
  napi_create_reference(env, ab, 1, &p->ref);
  for (uint32_t i = 0; i < entries; i++) pbuf_add(p, (uint16_t)i, (uint16_t)i);
  p->tail = (uint16_t)entries;
  atomic_store_explicit((_Atomic uint16_t *)&p->ring->tail, p->tail, memory_order_release);
  return 0;
}

static void pbuf_free(uk_ring *r, napi_env env, uk_pbuf *p, bool unregister, bool delete_ref) {
  if (unregister && r->fd >= 0) {
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.bgid = p->bgid;
    syscall(__NR_io_uring_register, r->fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
  }
  munmap(p->ring, p->ring_len);
  if (delete_ref && p->ref) napi_delete_reference(env, p->ref);
  memset(p, 0, sizeof *p);
}

int uk_pbuf_unregister(uk_ring *r, napi_env env, uint16_t bgid) {
  uk_pbuf *p = pbuf_find(r, bgid);
  if (!p) return -ENOENT;
  pbuf_free(r, env, p, true, true);
  return 0;
}

/* Called by the stage flush for UK_DESC_PBUF_RECYCLE records. */
void uk_pbuf_recycle(uk_ring *r, uint16_t bgid, uint16_t bid) {
  uk_pbuf *p = pbuf_find(r, bgid);
  if (!p || bid >= p->entries) return;
  pbuf_add(p, bid, 0);
  p->tail++;
  r->pbuf_dirty = true;
}

void uk_pbuf_publish(uk_ring *r) {
  if (!r->pbuf_dirty) return;
  r->pbuf_dirty = false;
  for (int i = 0; i < UK_MAX_PBUF; i++) {
    uk_pbuf *p = &r->pbufs[i];
    if (p->active) atomic_store_explicit((_Atomic uint16_t *)&p->ring->tail, p->tail, memory_order_release);
  }
}

/* Ring teardown: after the last CQE (no operation can use a buffer). */
void uk_pbuf_release_all(uk_ring *r, napi_env env, bool delete_refs) {
  for (int i = 0; i < UK_MAX_PBUF; i++)
    if (r->pbufs[i].active) pbuf_free(r, env, &r->pbufs[i], false, delete_refs);
}
