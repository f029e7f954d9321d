/* webhook.c - delivers issue changes from the store's outbox to
 * --webhook-url (docs/concepts.md#issues). The outbox row is written in the transaction of
 * the change, so an acknowledged change is never lost; this thread sends the
 * head delivery of each issue (the others wait behind it: in order per
 * issue), claiming it first (so changes made while it is in flight queue a
 * new delivery), and removes it on a 2xx. Failures and timeouts are retried
 * with exponential backoff and jitter. A crash between the POST and the
 * removal sends that one again after restart: at least once. Bursts are
 * coalesced by the store (an "updated" joins a waiting unattempted one), and
 * every delivery carries the issue as it is when sent. */
#include "webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reply.h"

struct ptd_webhook {
  ptd_server *srv;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stop, kicked, started;
  CURL *curl;
  uint64_t delivered, failed;
  int64_t waiting;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx) {
  (void)p;
  (void)ctx;
  return size * n;
}

/* 0 delivered; else the reason in why. */
static int post(ptd_webhook *w, const pt_delivery *o, const char *body, char *why, size_t whylen) {
  const ptd_config *c = &w->srv->cfg;
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  char line[200];
  /* a delivery sent again (a lost answer, a server killed mid-delivery)
   * keeps its id: receivers drop what they have seen */
  snprintf(line, sizeof line, "X-Pipetrack-Delivery: %lld", (long long)o->id);
  h = curl_slist_append(h, line);
  snprintf(line, sizeof line, "X-Pipetrack-Attempt: %d", o->attempts + 1);
  h = curl_slist_append(h, line);
  if (c->webhook_secret) {
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)(now_ms() / 1000));
    /* HMAC-SHA256 of "timestamp.body" */
    size_t tl = strlen(ts), bl = strlen(body);
    char *text = malloc(tl + 1 + bl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (text) {
      memcpy(text, ts, tl);
      text[tl] = '.';
      memcpy(text + tl + 1, body, bl);
    }
    if (!text || !HMAC(EVP_sha256(), c->webhook_secret, (int)strlen(c->webhook_secret),
                       (const unsigned char *)text, tl + 1 + bl, mac, &maclen)) {
      free(text);
      curl_slist_free_all(h);
      snprintf(why, whylen, "cannot sign the delivery");
      return -1;
    }
    free(text);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < maclen; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(line, sizeof line, "X-Pipetrack-Timestamp: %s", ts);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Pipetrack-Signature: sha256=%s", hex);
    h = curl_slist_append(h, line);
  }
  CURL *k = w->curl;
  curl_easy_reset(k);
  curl_easy_setopt(k, CURLOPT_URL, c->webhook_url);
  curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
  curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long)c->webhook_timeout_ms);
  curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, (long)c->webhook_timeout_ms);
  CURLcode rc = curl_easy_perform(k);
  curl_slist_free_all(h);
  long code = 0;
  curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK) {
    snprintf(why, whylen, "%s", curl_easy_strerror(rc));
    return -1;
  }
  if (code < 200 || code > 299) {
    snprintf(why, whylen, "the receiver answered %ld", code);
    return -1;
  }
  return 0;
}

static int64_t backoff_ms(const ptd_config *c, int attempts) {
  int64_t d = (int64_t)c->webhook_retry_ms;
  for (int i = 1; i < attempts && d < 300000; i++) d *= 2;
  if (d > 300000) d = 300000; /* at most 5 minutes between attempts */
  /* ±25 % jitter, so receivers that come back are not hit in lockstep */
  return d * 3 / 4 + (int64_t)(rand() % (int)(d / 2 + 1));
}

static void deliver(ptd_webhook *w, const pt_delivery *o) {
  ptd_server *s = w->srv;
  int64_t now = now_ms();
  /* claimed: one more attempt counted, and leased long enough to send; a
   * delivery another server claimed first is its to send */
  int claimed = 0;
  pt_error err;
  if (pt_outbox_claim(s->t, o->id, now, now + (int64_t)s->cfg.webhook_timeout_ms + 5000, &claimed,
                      &err)) {
    json_t *x = json_pack("{s:s,s:s,s:s}", "issue_id", o->issue_id, "action", o->action, "error",
                          err.message);
    ptd_log("warn", "webhook claim failed", x); /* due still: the next poll tries again */
    json_decref(x);
    return;
  }
  if (!claimed) return;
  char *body = NULL;
  char why[200] = "the issue could not be read";
  int ok =
      pt_delivery_body(s->t, o, &body, NULL) == PT_OK && post(w, o, body, why, sizeof why) == 0;
  pt_free(body);
  json_t *extra = json_pack("{s:s,s:s,s:i}", "issue_id", o->issue_id, "action", o->action,
                            "attempt", o->attempts + 1);
  if (ok) {
    pt_outbox_mark(s->t, o->id, 1, 0, NULL);
    __atomic_add_fetch(&w->delivered, 1, __ATOMIC_RELAXED);
    ptd_log("info", "webhook delivered", extra);
  } else {
    int64_t next = now_ms() + backoff_ms(&s->cfg, o->attempts + 1);
    pt_outbox_mark(s->t, o->id, 0, next, NULL);
    __atomic_add_fetch(&w->failed, 1, __ATOMIC_RELAXED);
    json_object_set_new(extra, "error", json_string(why));
    json_object_set_new(extra, "retry_in_ms", json_integer(next - now_ms()));
    ptd_log("warn", "webhook failed", extra);
  }
  json_decref(extra);
}

static void *run(void *arg) {
  ptd_webhook *w = arg;
  pthread_mutex_lock(&w->lock);
  while (!w->stop) {
    if (!w->kicked) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 250 * 1000000L; /* due retries are found by polling */
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&w->cond, &w->lock, &until);
    }
    w->kicked = 0;
    if (w->stop) break;
    pthread_mutex_unlock(&w->lock);
    pt_delivery due[16];
    size_t n = 0;
    int64_t waiting = 0;
    if (pt_outbox_due(w->srv->t, now_ms(), due, 16, &n, &waiting, NULL) == PT_OK) {
      __atomic_store_n(&w->waiting, waiting, __ATOMIC_RELAXED);
      for (size_t i = 0; i < n && !__atomic_load_n(&w->stop, __ATOMIC_RELAXED); i++)
        deliver(w, &due[i]);
    }
    pthread_mutex_lock(&w->lock);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

ptd_webhook *ptd_webhook_start(ptd_server *s) {
  ptd_webhook *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->srv = s;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->cond, NULL);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  w->curl = curl_easy_init();
  srand((unsigned)now_ms());
  if (!w->curl || pthread_create(&w->thread, NULL, run, w) != 0) {
    ptd_webhook_free(w);
    return NULL;
  }
  w->started = 1;
  return w;
}

void ptd_webhook_on_change(void *ctx, const pt_change *c) {
  ptd_webhook *w = ctx;
  /* a change of an issue queued a delivery in its transaction: look now
   * instead of at the next poll */
  if (c->kind != PT_CHANGE_ISSUE && c->kind != PT_CHANGE_ISSUES && c->kind != PT_CHANGE_RESYNC)
    return;
  pthread_mutex_lock(&w->lock);
  w->kicked = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
}

void ptd_webhook_stop(ptd_webhook *w) {
  if (!w || !w->started) return;
  pthread_mutex_lock(&w->lock);
  w->stop = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  w->started = 0;
}

void ptd_webhook_free(ptd_webhook *w) {
  if (!w) return;
  ptd_webhook_stop(w);
  if (w->curl) curl_easy_cleanup(w->curl);
  curl_global_cleanup();
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->cond);
  free(w);
}

void ptd_webhook_stats(ptd_webhook *w, uint64_t *delivered, uint64_t *failed, int64_t *waiting) {
  *delivered = w ? __atomic_load_n(&w->delivered, __ATOMIC_RELAXED) : 0;
  *failed = w ? __atomic_load_n(&w->failed, __ATOMIC_RELAXED) : 0;
  *waiting = w ? __atomic_load_n(&w->waiting, __ATOMIC_RELAXED) : 0;
}
