/*
 * The ring behind a JS handle (an external over the uk_box addon.c allocates).
 */
#include "handle.h"

uk_ring *uk_ring_of_handle(napi_env env, napi_value v) {
  void *p = NULL;
  /* napi_get_value_external fails on anything but an external. */
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "invalid ring handle");
    return NULL;
  }
  uk_ring *r = &((uk_box *)p)->ring;
  if (r->destroyed) {
    napi_throw_error(env, "ERR_RING_CLOSED", "the ring is closed");
    return NULL;
  }
  return r;
}
