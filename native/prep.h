/*
 * SQE preparation (prep.c): staged descriptor records -> SQEs, with their pins.
 * Calls down to ring.c (SQEs, submit), registry.c (MSG_RING targets) and
 * register.c (provided-buffer recycling).
 */
#ifndef UK_PREP_H
#define UK_PREP_H

#include "uk.h"

int uk_stage_flush(uk_ring *r, napi_env env, napi_value pins, uint32_t *nout);

#endif
