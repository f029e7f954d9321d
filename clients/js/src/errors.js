// errors.js - PipetrackError: a refusal from pipetrackd ({"error": {code,
// message, field}}) or a request that never got an answer (status 0).

export class PipetrackError extends Error {
  /**
   * @param {object} init
   * @param {number} init.status HTTP status; 0 when no answer came (network error, timeout)
   * @param {string} init.code the server's stable code (`invalid_request`, `rate_limited`, …), or `network_error`
   * @param {string} init.message one line a person can act on
   * @param {string|null} [init.field] the member path at fault (`event.status`, `events[3].step`), or null
   * @param {number|null} [init.retryAfterMs] from a Retry-After header
   * @param {unknown} [init.cause]
   */
  constructor({ status, code, message, field = null, retryAfterMs = null, cause }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "PipetrackError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfterMs = retryAfterMs;
  }

  /** Worth sending again: no answer, 429, or a 5xx other than 501/505. */
  get retryable() {
    return isRetryableStatus(this.status);
  }
}

export function isRetryableStatus(status) {
  return status === 0 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** Milliseconds a Retry-After value asks for (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value === "") return null;
  const s = String(value).trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

/** The PipetrackError for a non-2xx Response (its body read as the server's error document). */
export async function errorFromResponse(res) {
  const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
  let doc = null;
  try {
    doc = JSON.parse(await res.text());
  } catch {
    // a 431, a proxy's HTML page: no error document
  }
  const e = doc && typeof doc === "object" && doc.error && typeof doc.error === "object" ? doc.error : {};
  return new PipetrackError({
    status: res.status,
    code: typeof e.code === "string" ? e.code : `http_${res.status}`,
    message: typeof e.message === "string" ? e.message : `HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`,
    field: typeof e.field === "string" ? e.field : null,
    retryAfterMs,
  });
}

/** The PipetrackError of one refused result of a batch ({status, error}). */
export function errorFromResult(result) {
  const e = result.error || {};
  return new PipetrackError({
    status: result.status,
    code: e.code ?? `http_${result.status}`,
    message: e.message ?? `HTTP ${result.status}`,
    field: e.field ?? null,
  });
}
