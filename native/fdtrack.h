/*
 * Thread-teardown fd tracking (fdtrack.c): init from addon.c, submit/reap
 * hooks from ring.c. A leaf: calls no other uringkit C file.
 */
#ifndef UK_FDTRACK_H
#define UK_FDTRACK_H

#include "uk.h"

/* Wraps the addon's `socket` and `pipe` exports so their fds are tracked,
 * and registers the env cleanup hook that closes this env's tracked fds. */
void uk_fdtrack_init(napi_env env, napi_value exports);
/* Records `fd` (with its st_dev/st_ino) as opened through uringkit by `env`. */
void uk_fdtrack_add(napi_env env, int fd);
/* Forgets `fd` (closed through uringkit). */
void uk_fdtrack_remove(int fd);
/* Submission hook: the SQEs [from, to) are about to be published. Notes the
 * activations whose result is a new fd (OPENAT, OPENAT2, ACCEPT) and
 * forgets the fds an IORING_OP_CLOSE closes. */
void uk_fdtrack_submit(uk_ring *r, unsigned from, unsigned to);
/* Reap hook, for every CQE: a new fd from a noted activation is tracked. */
void uk_fdtrack_cqe(uk_ring *r, const struct io_uring_cqe *cqe);
/* The ring is being unmapped: drop its per-ring state. */
void uk_fdtrack_forget_ring(uk_ring *r);

#endif
