/*
 * Non-blocking set-up syscalls (net.c): sockets, names, options, the sockaddr
 * codec, pipes, affinity. A leaf: calls no other uringkit C file.
 */
#ifndef UK_NET_H
#define UK_NET_H

#include <node_api.h>

/* Exports socket, bind, listen, setsockopt, setlinger, getsockopt, sockname,
 * sockaddrEncode, sockaddrDecode, pipe, setAffinity. */
napi_value uk_net_init(napi_env env, napi_value exports);

#endif
