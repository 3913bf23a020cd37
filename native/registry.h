/*
 * The process-wide registry of live rings (registry.c). Maps a ring's random
 * 32-bit id to its fd while the ring lives; thread-safe.
 */
#ifndef UK_REGISTRY_H
#define UK_REGISTRY_H

#include <stdint.h>

/* Makes the ring fd `fd` reachable under `id` (nonzero). */
void uk_registry_add(uint32_t id, int fd);
/* Forgets `id` (the ring is being torn down). */
void uk_registry_remove(uint32_t id);
/* The fd of the live ring registered under `id`, or -1. */
int uk_registry_find(uint32_t id);
/* fn(fd, arg) under the registry lock (the ring cannot go away meanwhile); -EBADFD when `id` is unknown. */
int uk_registry_with_fd(uint32_t id, int (*fn)(int fd, void *arg), void *arg);

#endif
