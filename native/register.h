/*
 * Registered resources (register.c): the fixed buffer region, the registered
 * file table and the provided-buffer rings. Calls down to handle.c.
 */
#ifndef UK_REGISTER_H
#define UK_REGISTER_H

#include "uk.h"

/* Exports alignOffset, registerBuffers, unregisterBuffers, registerFiles, updateFiles, unregisterFiles. */
napi_value uk_register_init(napi_env env, napi_value exports);
int uk_pbuf_register(uk_ring *r, napi_env env, uint16_t bgid, uint32_t entries, uint32_t buf_size, napi_value ab);
int uk_pbuf_unregister(uk_ring *r, napi_env env, uint16_t bgid);
void uk_pbuf_recycle(uk_ring *r, uint16_t bgid, uint16_t bid);
void uk_pbuf_publish(uk_ring *r);
/* Ring teardown: after the last CQE (no operation can use a buffer). */
void uk_pbuf_release_all(uk_ring *r, napi_env env, bool delete_refs);

#endif
