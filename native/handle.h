/*
 * The JS handle of a ring (handle.c): the struct a ring is allocated in
 * (owned by addon.c) and the lookup every N-API file uses to turn a handle
 * argument back into its ring.
 */
#ifndef UK_HANDLE_H
#define UK_HANDLE_H

#include "uk.h"

/* A ring struct is allocated together with its handle; freed when both the
 * JS external is finalized and the libuv handles are closed. */
typedef struct uk_box {
  uk_ring ring;
  int refs;
  int closing_handles;
  uint64_t busy_poll_ns; /* 0: never spin (the default) */
  /* Spin accounting, read by JS through stats: spins, spins that saw a CQE. */
  double spins, spin_hits;
} uk_box;

/* The ring behind a JS handle; NULL with a JS exception (ERR_INVALID_ARG_TYPE,
 * or ERR_RING_CLOSED once destroyed). */
uk_ring *uk_ring_of_handle(napi_env env, napi_value v);

#endif
