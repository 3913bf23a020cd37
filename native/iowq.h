/*
 * io-wq worker caps (iowq.c). Calls down to handle.c.
 */
#ifndef UK_IOWQ_H
#define UK_IOWQ_H

#include <node_api.h>

/* Exports setMaxIoWorkers(h, bounded, unbounded). */
void uk_iowq_init(napi_env env, napi_value exports);

#endif
