/*
 * The ring itself (ring.c): io_uring_setup, the mmaps, SQE allocation, enter,
 * reap, teardown, probe. Calls down only to fdtrack.c (its submit/reap hooks).
 */
#ifndef UK_RING_H
#define UK_RING_H

#include "uk.h"

int uk_sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags);
int uk_ring_init(uk_ring *r, unsigned entries, unsigned cq_entries, unsigned want_flags, const uint8_t *allow,
                 int wq_fd, const char **why);
int uk_ring_enter(uk_ring *r, unsigned to_submit, unsigned min_complete, unsigned flags);
int uk_ring_submit(uk_ring *r, unsigned min_complete);
unsigned uk_sq_space(const uk_ring *r);
/* The next SQE, zeroed and counted as outstanding; NULL when the SQ is full. */
struct io_uring_sqe *uk_get_sqe(uk_ring *r);
/* Fills a zeroed SQE as IORING_OP_ASYNC_CANCEL of user_data `target`; its CQE carries `ud`. */
void uk_sqe_cancel(struct io_uring_sqe *sqe, uint64_t target, uint64_t ud);
uint32_t uk_reap(uk_ring *r, uint32_t start, bool enable_when_empty);
void uk_eventfd_enable(uk_ring *r, bool on);
/* false: operations still outstanding after the time limit, only with may_give_up (see ring.c). */
bool uk_ring_drain_all(uk_ring *r, bool may_give_up);
void uk_ring_unmap(uk_ring *r);
uk_slot_mem *uk_slot(uk_ring *r, uint32_t slot);
int uk_probe(uk_ring *r, uint8_t *ops, unsigned n);

#endif
