/*
 * uringkit native boundary: shared declarations.
 *
 * This layer owns the syscalls (no liburing), the ring memory and the libuv
 * hooks. It knows nothing about what an operation means for the user; it
 * builds SQEs from the staged records (scalars, plus the objects the stage's
 * pin array names), and copies CQEs out for JavaScript to dispatch.
 */
#ifndef UK_H
#define UK_H

#include <linux/io_uring.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

/* Constants newer than the build host's <linux/io_uring.h>. */
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
#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2)
#endif
#ifndef IORING_CQ_EVENTFD_DISABLED
#define IORING_CQ_EVENTFD_DISABLED (1U << 0)
#endif
#ifndef IORING_POLL_ADD_MULTI
#define IORING_POLL_ADD_MULTI (1U << 0)
#endif
#ifndef IORING_CQE_F_MORE
#define IORING_CQE_F_MORE (1U << 1)
#endif

/* IORING_REGISTER_IOWQ_MAX_WORKERS (5.15); an enum in newer headers, absent in older ones. */
#define UK_REGISTER_IOWQ_MAX_WORKERS 19u

/* Descriptor opcodes: uringkit's own stable numbering, shared with
 * src/backend/protocol.ts (enum DescOp). C maps each to an IORING_OP and validates it. */
enum uk_desc_op {
  UK_DESC_NOP = 0,
  UK_DESC_TIMEOUT = 1,
  UK_DESC_POLL = 2,
  UK_DESC_POLL_MULTI = 3,
  UK_DESC_CLOSE = 4,
  UK_DESC_CANCEL = 5,
  UK_DESC_READ = 6,      /* pin: buffer view */
  UK_DESC_WRITE = 7,     /* pin: buffer view */
  UK_DESC_READV = 8,     /* pin: array of buffer views */
  UK_DESC_WRITEV = 9,    /* pin: array of buffer views */
  UK_DESC_FSYNC = 10,
  UK_DESC_FALLOCATE = 11,
  UK_DESC_FADVISE = 12,
  UK_DESC_OPENAT = 13,   /* pin: path */
  UK_DESC_STATX = 14,    /* pin: [path, statx out buffer] */
  UK_DESC_UNLINKAT = 15, /* pin: path */
  UK_DESC_MKDIRAT = 16,  /* pin: path */
  UK_DESC_RENAMEAT = 17, /* pin: [old path, new path] */
  UK_DESC_SYMLINKAT = 18,/* pin: [target, link path] */
  UK_DESC_LINKAT = 19,   /* pin: [old path, new path] */
  UK_DESC_SPLICE = 20,
  UK_DESC_FTRUNCATE = 21,
  UK_DESC_ACCEPT = 22,       /* arg0 flags, arg1 1 = multishot; pin: sockaddr out (132 bytes) or none */
  UK_DESC_CONNECT = 23,      /* arg0 sockaddr length; pin: sockaddr */
  UK_DESC_SEND = 24,         /* arg0 msg flags; pin: view (offset, length) */
  UK_DESC_RECV = 25,         /* arg0 msg flags; pin: view (offset, length) */
  UK_DESC_RECV_MULTI = 26,   /* arg0 msg flags, arg1 buffer group */
  UK_DESC_SENDMSG = 27,      /* arg0 msg flags, arg1 sockaddr length; pin: [view, sockaddr|null] */
  UK_DESC_RECVMSG = 28,      /* arg0 msg flags; pin: [view, sockaddr out (128 bytes)] */
  UK_DESC_SEND_ZC = 29,      /* arg0 msg flags; pin: view (offset, length) */
  UK_DESC_SHUTDOWN = 30,     /* arg0 how */
  UK_DESC_PBUF_RECYCLE = 31, /* arg0 buffer group, arg1 buffer id: no SQE, no CQE */
  UK_DESC_MSG_RING = 32,     /* fd: target ring id (u32), arg0 target's user_data high word, arg1 value (i32) */
  UK_DESC_READ_FIXED = 33,   /* pin: view inside the registered buffer region (else built as a plain READ) */
  UK_DESC_WRITE_FIXED = 34,  /* pin: view inside the registered buffer region (else built as a plain WRITE) */
  UK_DESC_FILES_UPDATE = 35, /* arg0 first table index; pin: Int32Array of fds (-1 clears), length = count */
  UK_DESC_OPENAT2 = 36,      /* fd dirfd, arg0 flags, arg1 mode, arg2 resolve; pin: path; open_how in slot memory */
  UK_DESC_SYNC_FILE_RANGE = 37, /* arg0 SYNC_FILE_RANGE_* flags, POSITION offset, OFFSET byte count (u32, 0: to EOF) */
  UK_DESC__COUNT
};

/* Descriptor flags (bits 8..15 of word 0). */
#define UK_DESC_F_LINK_TIMEOUT 0x1
/* With LINK_TIMEOUT: arm the deadline as a separate IORING_OP_TIMEOUT (same
 * kind-1 user_data) instead of a linked one. For operations the kernel runs
 * on its worker threads, where a linked timeout is not reliably armed. */
#define UK_DESC_F_SEPARATE_TIMER 0x2
/* The record's fd is an index into the ring's registered file table
 * (IOSQE_FIXED_FILE). Only for the descriptor ops that take a plain fd. */
#define UK_DESC_F_FIXED_FILE 0x4

/* Descriptor record: UK_DESC_WORDS int32 words.
 *  [0] op | flags << 8      [1] slot            [2] hi (gen << 2 | kind)
 *  [3] fd                   [4] arg0            [5] arg1
 *  [6..7]   f64 operation time in ms (TIMEOUT)
 *  [8..9]   f64 linked-timeout time in ms
 *  [10..11] f64 position / offset (-1: the file position)
 *  [12..13] f64 byte offset into the pinned buffer, or a second offset
 *  [14]     u32 length              [15] arg2
 * Records whose operation touches memory name it through the stage's pin
 * array (element i for record i): C derives every pointer from that object
 * and checks its bounds itself. */
#define UK_DESC_WORDS 16
/* Word offsets inside a record (src/backend/protocol.ts, enum Rec). */
#define UK_REC_OP_FLAGS 0
#define UK_REC_SLOT 1
#define UK_REC_HI 2
#define UK_REC_FD 3
#define UK_REC_ARG0 4
#define UK_REC_ARG1 5
#define UK_REC_OP_MS 6    /* f64 */
#define UK_REC_LINK_MS 8  /* f64 */
#define UK_REC_POSITION 10 /* f64 */
#define UK_REC_OFFSET 12  /* f64 */
#define UK_REC_LENGTH 14
#define UK_REC_ARG2 15
#define UK_STAGE_HEADER_WORDS 16
#define UK_STAGE_COUNT 0   /* header word: records staged */
#define UK_STAGE_REFUSED 2 /* header word: why records were left staged (-errno) */

/* user_data = slot (low 32 bits) | hi (high 32 bits); hi = gen << 2 | kind. */
#define UK_KIND_OP 0u
#define UK_KIND_LINK_TIMEOUT 1u
#define UK_KIND_CANCEL 2u
#define UK_SLOT_MESSAGE 0xffffffffu /* CQEs posted by other rings (msg_ring) */
#define UK_MAX_SLOTS (1u << 24)

/* Completion record copied out for JavaScript: 4 int32 words. */
#define UK_CQE_WORDS 4
#define UK_CQE_SLOT 0
#define UK_CQE_HI 1
#define UK_CQE_RES 2
#define UK_CQE_FLAGS 3

/* Shared stats (Float64Array owned by JavaScript, written here). */
enum uk_stat {
  UK_STAT_ENTERS = 0,
  UK_STAT_CQ_OVERFLOWS,
  UK_STAT_REAP_BATCHES,
  UK_STAT_SQES,
  UK_STAT_CQES_DROPPED,
  UK_STAT__COUNT
};

/* Per-slot native side storage: lives until the slot's final CQE (and is then
 * reused by the next activation of the same slot). The kernel may read
 * anything here while the slot has SQEs outstanding. */
/* IORING_OP_OPENAT2 (Linux 5.6), by number: older uapi headers lack it. */
#define UK_IORING_OP_OPENAT2 28

/* struct open_how (linux/openat2.h, OPEN_HOW_SIZE_VER0): defined here so a
 * build host without that header still builds IORING_OP_OPENAT2. */
struct uk_open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};

typedef struct uk_slot_mem {
  struct __kernel_timespec ts_op;
  struct __kernel_timespec ts_link;
  uint64_t op_user_data; /* the activation's main SQE, for teardown cancel */
  uint32_t live;         /* SQEs of this slot whose final CQE is not reaped */
  uint32_t iov_cap;
  struct iovec *iov;     /* READV/WRITEV vectors; grown only while the slot is idle */
  struct msghdr msg;     /* SENDMSG/RECVMSG */
  struct iovec msg_iov;
  struct uk_open_how how; /* OPENAT2: read by the kernel until the final CQE */
} uk_slot_mem;

#define UK_SLOT_CHUNK_SHIFT 8
#define UK_SLOT_CHUNK (1u << UK_SLOT_CHUNK_SHIFT)

/* A provided-buffer ring (IORING_REGISTER_PBUF_RING): ring memory owned here,
 * buffers carved from one JS ArrayBuffer pinned by `ref` while registered. */
typedef struct uk_pbuf {
  bool active;
  uint16_t bgid;
  uint32_t entries, mask, buf_size;
  uint16_t tail;
  struct io_uring_buf_ring *ring;
  size_t ring_len;
  uint8_t *base;
  napi_ref ref;
} uk_pbuf;

#define UK_MAX_PBUF 16

typedef struct uk_ring {
  int fd;
  int efd;
  /* io_uring_enter's fd argument: the index of this ring in the creating
   * thread's registered-ring table (IORING_REGISTER_RING_FDS, 5.18+: the
   * kernel skips the fd lookup per enter) with enter_flags =
   * IORING_ENTER_REGISTERED_RING, or fd itself with enter_flags = 0. The
   * table is per thread: reg_tid is the thread that may use and unregister it. */
  int enter_fd;
  unsigned enter_flags;
  int reg_tid;
  unsigned setup_flags;
  unsigned features;
  unsigned sq_entries;
  unsigned cq_entries;

  /* SQ ring */
  unsigned *sq_khead, *sq_ktail, *sq_kflags, *sq_kdropped, *sq_array;
  unsigned sq_mask;
  struct io_uring_sqe *sqes;
  unsigned sqe_tail; /* next SQE to fill; [*sq_ktail, sqe_tail) are filled, not yet published */

  /* CQ ring */
  unsigned *cq_khead, *cq_ktail, *cq_koverflow, *cq_kflags;
  unsigned cq_mask;
  struct io_uring_cqe *cqes;
  unsigned cq_dropped_seen;

  void *sq_map, *cq_map;
  size_t sq_map_len, cq_map_len, sqes_map_len;

  /* Accounting: SQEs prepared whose final CQE has not been reaped. */
  uint64_t outstanding;
  uk_slot_mem **chunks;
  uint32_t nchunks;

  /* Memory shared with JavaScript (pinned by napi references). */
  int32_t *stage;      /* header + records */
  uint32_t stage_cap;  /* records */
  int32_t *out;        /* completion records */
  uint32_t out_cap;    /* records */
  double *stats;
  int32_t *turn;       /* [0] loop-turn counter */

  uint32_t ring_id; /* registry id for ring-to-ring messages (0: none) */
  uk_pbuf pbufs[UK_MAX_PBUF];
  bool pbuf_dirty;

  /* libuv + JS */
  napi_env env;
  uv_loop_t *loop;
  uv_poll_t *poll;
  uv_prepare_t *prepare;
  bool referenced;
  napi_ref js_self;     /* the JS handle object */
  napi_ref on_wake;     /* JS function called when the eventfd fires */
  napi_ref buffers[4];  /* stage, out, stats, turn */
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;
  bool destroyed;

  /* Registered resources (register.c). The buffer region is one iovec
   * (buf_index 0) of fixed_len bytes at fixed_base, memory the addon mapped
   * itself; the kernel pins its pages until the ring fd is closed or the
   * region unregistered. files_count: size of the registered file table. */
  uint8_t *fixed_base;
  size_t fixed_len;
  uint32_t files_count;
} uk_ring;

#endif
