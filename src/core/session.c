/* session.c - the session aggregate, checksum and registry entries
 * (see session.h). */
#include "session.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jparse.h"

static void copy_str(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void pt_session_init(pt_session *s, const char *session_id, const char *pipeline_type) {
  memset(s, 0, sizeof *s);
  copy_str(s->session_id, sizeof s->session_id, session_id);
  copy_str(s->pipeline_type, sizeof s->pipeline_type, pipeline_type);
  memcpy(s->last_link, PT_GENESIS, sizeof PT_GENESIS);
  s->first_ts = s->last_ts = -1;
  s->created_at = s->updated_at = -1;
  s->snap_ms = -1;
}

static void recent_drop(pt_session *s) {
  free(s->recent);
  s->recent = NULL;
  s->recent_len = s->recent_cap = 0;
  s->nrecent = 0;
  s->recent_from = s->event_count;
}

void pt_session_cleanup(pt_session *s) {
  free(s->steps);
  s->steps = NULL;
  s->nsteps = s->capsteps = 0;
  recent_drop(s);
}

void pt_session_keep_recent(pt_session *s) {
  if (s->keep_recent) return;
  recent_drop(s);
  s->keep_recent = 1;
}

const char *pt_session_recent_ids(const pt_session *s, int64_t first) {
  if (!s->keep_recent || first < s->recent_from || first > s->event_count ||
      s->recent_from + s->nrecent != s->event_count)
    return NULL;
  const char *p = s->recent ? s->recent : "";
  for (int64_t i = s->recent_from; i < first; i++) p += strlen(p) + 1;
  return p;
}

/* Appends the id of event seq; the list only ever holds consecutive events,
 * and losing it (no memory) costs a read later, not a failure now. */
static void recent_push(pt_session *s, int64_t seq, const char *id) {
  if (s->recent_from + s->nrecent != seq) {
    recent_drop(s);
    s->recent_from = seq;
  }
  size_t n = strlen(id) + 1;
  if (s->nrecent == PT_RECENT_IDS) {
    size_t first = strlen(s->recent) + 1;
    memmove(s->recent, s->recent + first, s->recent_len - first);
    s->recent_len -= first;
    s->nrecent--;
    s->recent_from++;
  }
  if (s->recent_len + n > s->recent_cap) {
    size_t cap = s->recent_cap ? s->recent_cap * 2 : 256;
    while (cap < s->recent_len + n) cap *= 2;
    char *r = realloc(s->recent, cap);
    if (!r) {
      recent_drop(s);
      s->recent_from = seq + 1;
      return;
    }
    s->recent = r;
    s->recent_cap = cap;
  }
  memcpy(s->recent + s->recent_len, id, n);
  s->recent_len += n;
  s->nrecent++;
}

void pt_session_recent_encode(pt_buf *b, const pt_session *s) {
  if (!s->keep_recent || !s->nrecent || s->recent_from + s->nrecent != s->event_count) return;
  const char *p = s->recent;
  for (int i = 0; i < s->nrecent; i++) {
    if (i) pt_buf_putc(b, ' ');
    pt_buf_puts(b, p);
    p += strlen(p) + 1;
  }
}

void pt_session_recent_decode(pt_session *s, const char *text) {
  s->keep_recent = 1;
  recent_drop(s);
  int64_t k = 0;
  for (const char *p = text; *p; k++) {
    size_t n = strcspn(p, " ");
    if (n == 0 || n > PT_ID_MAX) return; /* not a list of ids: none kept */
    p += n;
    if (*p == ' ') p++;
  }
  if (k > PT_RECENT_IDS || k > s->event_count) return;
  s->recent_from = s->event_count - k;
  char id[PT_ID_MAX + 1];
  int64_t seq = s->recent_from;
  for (const char *p = text; *p; seq++) {
    size_t n = strcspn(p, " ");
    memcpy(id, p, n);
    id[n] = 0;
    recent_push(s, seq, id);
    p += n;
    if (*p == ' ') p++;
  }
}

/* Copies src's recent list into dst (whose own buffer, if any, is reused);
 * on no memory dst keeps no list. */
static void recent_copy(pt_session *dst, const pt_session *src, char *buf, size_t cap) {
  dst->recent = buf;
  dst->recent_cap = cap;
  if (!src->keep_recent || !src->recent_len) {
    dst->recent_len = 0;
    return;
  }
  if (cap < src->recent_len) {
    char *r = realloc(buf, src->recent_len);
    if (!r) {
      recent_drop(dst);
      return;
    }
    dst->recent = r;
    dst->recent_cap = src->recent_len;
  }
  memcpy(dst->recent, src->recent, src->recent_len);
}

int pt_session_copy(pt_session *dst, const pt_session *src) {
  *dst = *src;
  dst->steps = NULL;
  dst->capsteps = 0;
  recent_copy(dst, src, NULL, 0);
  if (src->nsteps) {
    dst->steps = malloc((size_t)src->nsteps * sizeof *dst->steps);
    if (!dst->steps) {
      pt_session_cleanup(dst); /* the recent list copied above */
      return -1;
    }
    dst->capsteps = src->nsteps;
    memcpy(dst->steps, src->steps, (size_t)src->nsteps * sizeof *dst->steps);
  }
  return 0;
}

int pt_session_assign(pt_session *dst, const pt_session *src) {
  pt_step_state *steps = dst->steps;
  int cap = dst->capsteps;
  if (src->nsteps > cap) {
    pt_step_state *n = realloc(steps, (size_t)src->nsteps * sizeof *n);
    if (!n) return -1;
    steps = n;
    cap = src->nsteps;
  }
  char *recent = dst->recent;
  size_t rcap = dst->recent_cap;
  *dst = *src;
  recent_copy(dst, src, recent, rcap);
  dst->steps = steps;
  dst->capsteps = cap;
  if (src->nsteps) memcpy(steps, src->steps, (size_t)src->nsteps * sizeof *steps);
  return 0;
}

const pt_step_state *pt_session_step(const pt_session *s, const char *name) {
  for (int i = 0; i < s->nsteps; i++)
    if (strcmp(s->steps[i].name, name) == 0) return &s->steps[i];
  return NULL;
}

static pt_step_state *step_get(pt_session *s, const char *name) {
  pt_step_state *st = (pt_step_state *)pt_session_step(s, name);
  if (st) return st;
  if (s->nsteps == s->capsteps) {
    int nc = s->capsteps ? s->capsteps * 2 : 4;
    pt_step_state *n = realloc(s->steps, (size_t)nc * sizeof *n);
    if (!n) return NULL;
    s->steps = n;
    s->capsteps = nc;
  }
  st = &s->steps[s->nsteps++];
  memset(st, 0, sizeof *st);
  copy_str(st->name, sizeof st->name, name);
  st->first_success = st->started_ts = st->outcome_ts = -1;
  return st;
}

int pt_session_apply(pt_session *s, const pt_event *e) {
  pt_step_state *st = step_get(s, e->step);
  if (!st) return -1;
  if (e->status == PT_STARTED) {
    st->started = 1;
    st->started_ts = e->ts;
  } else {
    st->outcome = e->status == PT_SUCCESS ? PT_OUTCOME_SUCCESS : PT_OUTCOME_FAILURE;
    st->outcome_ts = e->ts;
    if (e->status == PT_SUCCESS && st->first_success < 0) st->first_success = e->seq;
  }
  s->event_count = e->seq + 1;
  memcpy(s->last_link, e->link, 65);
  copy_str(s->last_event_id, sizeof s->last_event_id, e->id);
  if (s->first_ts < 0 || e->ts < s->first_ts) s->first_ts = e->ts;
  if (s->last_ts < 0 || e->ts > s->last_ts) s->last_ts = e->ts;
  if (s->created_at < 0) s->created_at = e->received_at;
  s->updated_at = e->received_at;
  if (s->keep_recent) recent_push(s, e->seq, e->id);
  return 0;
}

void pt_session_steps_encode(pt_buf *b, const pt_session *s) {
  for (int i = 0; i < s->nsteps; i++) {
    const pt_step_state *st = &s->steps[i];
    if (i) pt_buf_putc(b, ';');
    pt_buf_printf(b, "%s,%d,%" PRId64 ",%d,%" PRId64 ",%" PRId64, st->name, st->outcome,
                  st->first_success, st->started, st->started_ts, st->outcome_ts);
  }
}

int pt_session_steps_decode(pt_session *s, const char *text) {
  s->nsteps = 0; /* keeps the buffer */
  const char *p = text;
  while (p && *p) {
    const char *comma = strchr(p, ',');
    if (!comma || comma - p > PT_NAME_MAX) return -1;
    char name[PT_NAME_MAX + 1];
    memcpy(name, p, (size_t)(comma - p));
    name[comma - p] = '\0';
    pt_step_state *st = step_get(s, name);
    if (!st) return -1;
    char *end;
    const char *q = comma + 1;
    st->outcome = (int)strtol(q, &end, 10);
    if (*end != ',') return -1;
    st->first_success = strtoll(end + 1, &end, 10);
    if (*end != ',') return -1;
    st->started = (int)strtol(end + 1, &end, 10);
    if (*end != ',') return -1;
    st->started_ts = strtoll(end + 1, &end, 10);
    if (*end != ',') return -1;
    st->outcome_ts = strtoll(end + 1, &end, 10);
    if (*end != ';' && *end != '\0') return -1;
    p = *end ? end + 1 : end;
  }
  return 0;
}

void pt_cksum_compute(const pt_session *s, const pt_pipeline *p, int64_t now_ms, pt_cksum *c) {
  memset(c, 0, offsetof(pt_cksum, completed_steps));
  pt_chain_hash(s->session_id, s->event_count ? s->last_link : PT_GENESIS, c->chain_hash);
  c->event_count = s->event_count;
  c->last_event_id = s->event_count ? s->last_event_id : NULL;
  c->started_at = s->first_ts;
  c->last_event_at = s->last_ts;
  c->total = p->nrequired;
  const pt_step_state *st[PT_MAX_STEPS];
  for (int i = 0; i < p->nsteps; i++) st[i] = pt_session_step(s, p->steps[i]);
  for (int i = 0; i < p->nsteps; i++) {
    int outcome = st[i] ? st[i]->outcome : PT_OUTCOME_NONE;
    if (outcome == PT_OUTCOME_SUCCESS) {
      c->completed_steps[c->ncompleted++] = i;
      if (!p->optional[i]) c->completed++;
    } else if (outcome == PT_OUTCOME_FAILURE) {
      c->failed_steps[c->nfailed++] = i;
    }
    if (outcome == PT_OUTCOME_NONE && !p->optional[i]) c->missing_steps[c->nmissing++] = i;
    /* Out of order: its first success came before some earlier required
     * step had succeeded. */
    int64_t at = st[i] ? st[i]->first_success : -1;
    if (at >= 0) {
      for (int j = 0; j < i; j++) {
        if (p->optional[j]) continue;
        int64_t earlier = st[j] ? st[j]->first_success : -1;
        if (earlier < 0 || earlier > at) {
          c->out_of_order_steps[c->nooo++] = i;
          break;
        }
      }
    }
  }
  c->percent = c->total == 0 ? 100 : (int)((int64_t)c->completed * 100 / c->total);
  c->is_complete = c->completed == c->total;
  c->is_valid = c->is_complete && c->nfailed == 0 && c->nooo == 0;
  if (s->event_count == 0)
    c->state = "pending";
  else if (c->is_complete)
    c->state = "completed";
  else if (c->nfailed > 0)
    c->state = "failed";
  else if (now_ms - s->last_ts >= p->stall_after_s * 1000)
    c->state = "stalled";
  else
    c->state = "in_progress";
}

int pt_session_scode(const pt_session *s, const pt_pipeline *p) {
  if (!p) return PT_SCODE_UNKNOWN;
  if (s->event_count == 0) return PT_SCODE_PENDING;
  /* pt_cksum_compute's rules without its chain hash: this runs at every
   * write of a row */
  int completed = 0, failed = 0;
  for (int i = 0; i < p->nsteps; i++) {
    const pt_step_state *st = pt_session_step(s, p->steps[i]);
    int outcome = st ? st->outcome : PT_OUTCOME_NONE;
    if (outcome == PT_OUTCOME_SUCCESS && !p->optional[i]) completed++;
    if (outcome == PT_OUTCOME_FAILURE) failed++;
  }
  if (completed == p->nrequired) return PT_SCODE_COMPLETED;
  if (failed) return PT_SCODE_FAILED;
  return s->last_ts > s->updated_at + PT_SCODE_AHEAD_MS ? PT_SCODE_AHEAD : PT_SCODE_ACTIVE;
}

int pt_cksum_terminal(const pt_cksum *c) {
  return strcmp(c->state, "completed") == 0 || strcmp(c->state, "failed") == 0;
}

static void write_steps(pt_buf *b, const char *name, const int *idx, int n, const pt_pipeline *p) {
  pt_buf_printf(b, ",\"%s\":[", name);
  for (int i = 0; i < n; i++) {
    if (i) pt_buf_putc(b, ',');
    pt_buf_json_cstr(b, p->steps[idx[i]]);
  }
  pt_buf_putc(b, ']');
}

static void write_ms_or_null(pt_buf *b, int64_t v) {
  if (v < 0)
    pt_buf_puts(b, "null");
  else
    pt_buf_i64(b, v);
}

void pt_cksum_write_json(pt_buf *b, const pt_cksum *c, const pt_pipeline *p) {
  pt_buf_puts(b, "{\"chain_hash\":\"");
  pt_buf_put(b, c->chain_hash, 64);
  pt_buf_puts(b, "\",\"event_count\":");
  pt_buf_i64(b, c->event_count);
  pt_buf_json_member(b, ",\"last_event_id\":", c->last_event_id);
  pt_buf_printf(b,
                ",\"state\":\"%s\",\"is_complete\":%s,\"is_valid\":%s,\"progress\":"
                "{\"completed\":%d,\"total\":%d,\"percent\":%d}",
                c->state, c->is_complete ? "true" : "false", c->is_valid ? "true" : "false",
                c->completed, c->total, c->percent);
  write_steps(b, "completed_steps", c->completed_steps, c->ncompleted, p);
  write_steps(b, "failed_steps", c->failed_steps, c->nfailed, p);
  write_steps(b, "missing_steps", c->missing_steps, c->nmissing, p);
  write_steps(b, "out_of_order_steps", c->out_of_order_steps, c->nooo, p);
  pt_buf_puts(b, ",\"started_at\":");
  write_ms_or_null(b, c->started_at);
  pt_buf_puts(b, ",\"last_event_at\":");
  write_ms_or_null(b, c->last_event_at);
  pt_buf_puts(b, ",\"duration_ms\":");
  write_ms_or_null(b, c->started_at < 0 ? -1 : c->last_event_at - c->started_at);
  pt_buf_putc(b, '}');
}

void pt_snap_cleanup(pt_snap *s) {
  free(s->notes);
  free(s->signature);
  s->notes = s->signature = NULL;
}

int pt_snap_make(pt_session *s, const pt_cksum *c, int64_t now_ms, const char *notes,
                 pt_snap *out) {
  memset(out, 0, sizeof *out);
  /* Ids are reg_<session>_<ms>[_N]; keeping created_at monotonic per session
   * keeps ids unique and lists newest-first even if the clock steps back. */
  int64_t at = now_ms > s->snap_ms ? now_ms : s->snap_ms;
  int suffix = at == s->snap_ms ? s->snap_suffix + 1 : 0;
  if (suffix)
    snprintf(out->id, sizeof out->id, "reg_%s_%" PRId64 "_%d", s->session_id, at, suffix);
  else
    snprintf(out->id, sizeof out->id, "reg_%s_%" PRId64, s->session_id, at);
  copy_str(out->session_id, sizeof out->session_id, s->session_id);
  copy_str(out->pipeline_type, sizeof out->pipeline_type, s->pipeline_type);
  memcpy(out->chain_hash, c->chain_hash, 65);
  out->event_count = c->event_count;
  copy_str(out->last_event_id, sizeof out->last_event_id, c->last_event_id ? c->last_event_id : "");
  out->completed = c->completed;
  out->total = c->total;
  out->percent = c->percent;
  copy_str(out->state, sizeof out->state, c->state);
  out->is_valid = c->is_valid;
  out->created_at = at;
  out->n = s->snapshot_count;
  if (notes && !(out->notes = strdup(notes))) return -1;
  s->snap_ms = at;
  s->snap_suffix = suffix;
  s->snapshot_count++;
  return 0;
}

static void snap_write(pt_buf *b, const pt_snap *s, const char *const *ids, int64_t first,
                       int64_t nids, int64_t cap, int with_signature) {
  pt_buf_json_member(b, "{\"id\":", s->id);
  pt_buf_json_member(b, ",\"session_id\":", s->session_id);
  pt_buf_json_member(b, ",\"pipeline_type\":", s->pipeline_type);
  pt_buf_puts(b, ",\"chain_hash\":\"");
  pt_buf_put(b, s->chain_hash, 64);
  pt_buf_puts(b, "\",\"event_count\":");
  pt_buf_i64(b, s->event_count);
  pt_buf_json_member(b, ",\"last_event_id\":", s->last_event_id[0] ? s->last_event_id : NULL);
  int64_t lo = cap > 0 && s->event_count > cap ? s->event_count - cap : 0;
  if (lo > 0) pt_buf_puts(b, ",\"event_ids_truncated\":true");
  pt_buf_puts(b, ",\"event_ids\":[");
  int comma = 0;
  for (int64_t seq = lo; ids && seq < s->event_count; seq++) {
    if (seq < first || seq - first >= nids) continue;
    /* stored ids are [A-Za-z0-9_.:-] only (pt_is_id): nothing to escape,
     * and entries list many of them */
    const char *id = ids[seq - first];
    size_t n = strlen(id);
    if (pt_buf_reserve(b, n + 3)) return;
    char *o = b->data + b->len;
    if (comma++) *o++ = ',';
    *o++ = '"';
    memcpy(o, id, n);
    o += n;
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->data);
  }
  pt_buf_printf(b,
                "],\"progress\":{\"completed\":%d,\"total\":%d,\"percent\":%d},"
                "\"state\":\"%s\",\"is_valid\":%s,\"created_at\":",
                s->completed, s->total, s->percent, s->state, s->is_valid ? "true" : "false");
  pt_buf_i64(b, s->created_at);
  pt_buf_json_member(b, ",\"notes\":", s->notes);
  if (with_signature) {
    pt_buf_json_member(b, ",\"signature\":", s->signature);
  }
  pt_buf_putc(b, '}');
}

void pt_snap_write_json(pt_buf *b, const pt_snap *s, const char *const *ids, int64_t first,
                        int64_t nids, int64_t cap) {
  snap_write(b, s, ids, first, nids, cap, 1);
}

int pt_snap_signed_text(pt_buf *out, const pt_snap *s, const char *const *ids, int64_t first,
                        int64_t nids) {
  pt_buf b;
  pt_buf_init(&b, 0);
  snap_write(&b, s, ids, first, nids, PT_SNAP_IDS_MAX, 0);
  pt_jparse_error je;
  int rc = b.failed ? -1 : pt_jparse_canonical(b.data, b.len, 4, out, &je);
  pt_buf_cleanup(&b);
  return rc || out->failed ? -1 : 0;
}
