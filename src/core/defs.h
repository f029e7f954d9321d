/* defs.h - pipeline definitions (docs/concepts.md#pipelines): parsing, lookup, the built-in
 * default. A pt_defs is immutable once built and shared by reference count,
 * so a reload can swap it while requests still use the old one. */
#ifndef PT_DEFS_H
#define PT_DEFS_H

#include <stdint.h>

#include "buf.h"
#include "pipetrack.h"

typedef struct pt_pipeline {
  char *type;
  char **steps;
  unsigned char *optional; /* per step: 1 when optional */
  int nsteps;
  int nrequired;
  int64_t stall_after_s;
  /* SHA-256 (hex) of the definition: changes whenever anything that shapes
   * a status answer does (status ETags include it). */
  char digest[65];
} pt_pipeline;

typedef struct pt_defs {
  pt_pipeline *p;
  int n;
  int refs; /* atomically updated */
} pt_defs;

#define PT_MAX_STEPS 256
#define PT_MAX_PIPELINES 1024

/* Parses definitions; on error err->message names the position
 * ("line 3, column 7" or "pipelines[0].steps[2]") and the reason. */
pt_status pt_defs_parse(const char *json, size_t len, pt_defs **out, pt_error *err);
/* The built-in default definitions. */
pt_status pt_defs_default(pt_defs **out, pt_error *err);
pt_defs *pt_defs_ref(pt_defs *d);
void pt_defs_unref(pt_defs *d);

const pt_pipeline *pt_defs_find(const pt_defs *d, const char *type);
/* Index of the step in the pipeline, or -1. */
int pt_pipeline_step(const pt_pipeline *p, const char *step);
/* What to add to "no pipeline X" and "no step X" refusals, into out (cap
 * bytes, "" when nothing helps): `; did you mean "Y"?` when a defined name
 * is a few edits away, and the defined names (as many as fit). */
void pt_defs_hint(const pt_defs *d, const char *type, char *out, size_t cap);
void pt_pipeline_step_hint(const pt_pipeline *p, const char *step, char *out, size_t cap);

void pt_defs_write_json(pt_buf *b, const pt_defs *d);

/* ^[a-z][a-z0-9_]{0,63}$ */
int pt_is_name(const char *s);
/* 1-128 characters of [A-Za-z0-9_.:-] */
int pt_is_id(const char *s);

#endif
