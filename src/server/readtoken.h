/* readtoken.h - read tokens: a session's status, stream and report readable
 * by a browser without the API token (docs/security.md, Read tokens).
 *
 * A token is "rt1.<expires_at_ms>.<mac>", mac the base64url (no padding) of
 * HMAC-SHA256(secret, "rt1|<expires_at_ms>|<session_id>"). Nothing is
 * stored: a token is checked by computing its MAC again. A previous secret
 * may be kept for checking only, so that tokens handed out before a
 * rotation keep working until they expire. */
#ifndef PTD_READTOKEN_H
#define PTD_READTOKEN_H

#include <stddef.h>
#include <stdint.h>

/* "rt1." + 20 digits + "." + 43 + NUL */
#define PTD_READ_TOKEN_SIZE 72
#define PTD_READ_SECRET_MAX 256

typedef struct ptd_readtoken {
  unsigned char secret[PTD_READ_SECRET_MAX], previous[PTD_READ_SECRET_MAX];
  size_t secret_len, previous_len; /* previous_len 0: none */
  int64_t ttl_ms;
} ptd_readtoken;

typedef enum ptd_rt_check {
  PTD_RT_OK,
  PTD_RT_MALFORMED, /* not a token of this format */
  PTD_RT_EXPIRED,
  PTD_RT_WRONG /* another session's, or made with another secret */
} ptd_rt_check;

/* Whether text looks like a read token (its prefix): a credential that is
 * not the API token or the ingest key. */
int ptd_rt_is_token(const char *text);
/* A token for session_id valid until now_ms + ttl; *expires_at_ms when not
 * NULL. */
void ptd_rt_mint(const ptd_readtoken *rt, const char *session_id, int64_t now_ms,
                 char out[PTD_READ_TOKEN_SIZE], int64_t *expires_at_ms);
ptd_rt_check ptd_rt_check_token(const ptd_readtoken *rt, const char *token, const char *session_id,
                                int64_t now_ms);

#endif
