/*
 * N-API helpers shared by addon.c, net.c and register.c (one copy each).
 * Depends on node_api.h only: a leaf of the include tree.
 */
#ifndef UK_NAPI_UTIL_H
#define UK_NAPI_UTIL_H

#include <node_api.h>
#include <stdbool.h>

/* Declares argc/argv for an N-API callback taking up to n arguments. */
#define ARGS(n)                                                        \
  size_t argc = n;                                                     \
  napi_value argv[n];                                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) \
    return NULL;

/* Returns NULL from the enclosing N-API callback when `call` fails. */
#define CHECK(call)                     \
  do {                                  \
    if ((call) != napi_ok) return NULL; \
  } while (0)

static inline napi_value num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static inline napi_value throw_type(napi_env env, const char *code, const char *msg) {
  napi_throw_type_error(env, code, msg);
  return NULL;
}

#endif
