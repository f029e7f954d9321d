// client.js - createClient: tracking with idempotent ids and retries, the
// batching queue (with a last send when a page is hidden), traced steps, and
// the reads a server or a page needs (status, report, read tokens, pubkey).

import { PipetrackError, errorFromResponse, errorFromResult, isRetryableStatus } from "./errors.js";
import { canonicalize } from "./jcs.js";
import { getCrypto, randomUUID } from "./webcrypto.js";

export const MAX_BATCH = 1000;
/** Bodies sent as a page goes away stay under this (keepalive and sendBeacon both cap near 64 KiB). */
export const UNLOAD_BODY_MAX = 60 * 1024;
/** A traced step's result larger than this (canonical JSON) is stored as a summary instead. */
export const RESULT_MAX = 60 * 1024;

const DEFAULT_RETRY = { retries: 5, minDelayMs: 250, maxDelayMs: 30000 };

/** A fresh idempotency key: `evt_` and a random UUID. */
export function newEventId() {
  return `evt_${randomUUID()}`;
}

/** The event with an `id` (kept when it has one), ready to be sent and re-sent. */
export function withId(event) {
  if (event === null || typeof event !== "object" || Array.isArray(event)) throw new TypeError("an event must be an object");
  return event.id == null ? { ...event, id: newEventId() } : event;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function retryPolicy(opt) {
  if (opt === false) return { retries: 0, minDelayMs: 0, maxDelayMs: 0 };
  return { ...DEFAULT_RETRY, ...(opt || {}) };
}

/** Full jitter (AWS's "exponential backoff and jitter"), or at least what Retry-After asks. */
export function backoffDelay(attempt, policy, retryAfterMs = null, random = Math.random) {
  const cap = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** attempt);
  const jitter = random() * cap;
  return retryAfterMs == null ? jitter : Math.max(retryAfterMs, jitter);
}

/** A JSON value standing for `value` in a stored output: what JSON.stringify keeps, capped in size. */
function jsonValue(value) {
  let v;
  try {
    const text = JSON.stringify(value);
    v = text === undefined ? null : JSON.parse(text);
  } catch (e) {
    return { unserializable: String(e && e.message ? e.message : e) };
  }
  const n = canonicalize(v).length;
  return n > RESULT_MAX ? { truncated: true, canonical_length: n } : v;
}

function errorOf(err) {
  const code = err && typeof err.code === "string" && err.code ? err.code : err && typeof err.name === "string" && err.name ? err.name : "Error";
  const message = err && typeof err.message === "string" ? err.message : String(err);
  return { code, message };
}

function now() {
  return typeof performance !== "undefined" && performance.now ? performance.now() : Date.now();
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((a, b) => {
    resolve = a;
    reject = b;
  });
  // a caller that does not await a queued track must not get an unhandled
  // rejection for it: the error also reaches onError
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** The answer shape of POST /track made from one stored result of a batch. */
function answerOf(result) {
  const { status, ...rest } = result;
  return rest;
}

export class PipetrackClient {
  constructor(options = {}) {
    if (!options.url) throw new TypeError("createClient: url is required");
    this.url = String(options.url).replace(/\/+$/, "");
    this.ingestKey = options.ingestKey ?? null;
    this.token = options.token ?? null;
    this.readToken = options.readToken ?? null;
    this.headers = { ...(options.headers || {}) };
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("createClient: no fetch (pass options.fetch)");
    this._fetch = options.fetch ? f : (...a) => globalThis.fetch(...a);
    this.retry = retryPolicy(options.retry);
    this.autoSnapshot = options.autoSnapshot;
    this.onError = options.onError ?? null;
    this._readTokens = new Map();
    this._closed = false;
    // the queue: items {event, autoSnapshot, d: deferred, attempts}
    this._queue = [];
    this._rounds = new Set();
    this._timer = null;
    if (options.autoFlush) {
      const a = options.autoFlush === true ? {} : options.autoFlush;
      this.autoFlush = { maxEvents: Math.min(a.maxEvents ?? 50, MAX_BATCH), maxDelayMs: a.maxDelayMs ?? 1000 };
    } else {
      this.autoFlush = null;
    }
    this._unload = null;
    if (this.autoFlush && options.flushOnPageHide !== false) this._listenPageHide();
    getCrypto().catch(() => {}); // Node 18: load node:crypto early, for the event ids
  }

  // ---- HTTP --------------------------------------------------------------------------

  _auth(kind, sessionReadToken) {
    if (kind === "track") return this.ingestKey ?? this.token;
    if (kind === "read") return this.token ?? sessionReadToken ?? this.readToken;
    return this.token;
  }

  _init(method, { body, auth, headers, keepalive, contentType = "application/json", signal } = {}) {
    const h = { ...this.headers, ...(headers || {}) };
    if (body !== undefined) h["Content-Type"] = contentType;
    if (auth) h.Authorization = `Bearer ${auth}`;
    const init = { method, headers: h };
    if (body !== undefined) init.body = body;
    if (keepalive) init.keepalive = true;
    if (signal) init.signal = signal;
    return init;
  }

  /**
   * Sends one request, again on no answer, 429 and 5xx (backoff with full
   * jitter, at least Retry-After), never on another 4xx. Resolves with the
   * Response (2xx or 304); rejects with a PipetrackError.
   */
  async _send(path, init, policy = this.retry) {
    for (let attempt = 0; ; attempt++) {
      let err;
      try {
        const res = await this._fetch(this.url + path, init);
        if (res.ok || res.status === 304) return res;
        err = await errorFromResponse(res);
      } catch (e) {
        if (e instanceof PipetrackError) throw e;
        if (e && e.name === "AbortError") throw e;
        err = new PipetrackError({ status: 0, code: "network_error", message: `no answer from ${this.url}: ${e && e.message ? e.message : e}`, cause: e });
      }
      if (!err.retryable || attempt >= policy.retries) throw err;
      await sleep(backoffDelay(attempt, policy, err.retryAfterMs));
    }
  }

  async _json(path, init, policy) {
    const res = await this._send(path, init, policy);
    return res.json();
  }

  _remember(answer) {
    if (answer && answer.event && typeof answer.read_token === "string") this._readTokens.set(answer.event.session_id, answer.read_token);
    return answer;
  }

  // ---- tracking ----------------------------------------------------------------------

  /**
   * Tracks one event. It gets an `id` first if it has none, so a retry is an
   * idempotent replay. With autoFlush the event joins the queue and the
   * promise settles when its batch is answered.
   */
  track(event, { autoSnapshot } = {}) {
    if (this._closed) return Promise.reject(new Error("pipetrack client is closed"));
    const ev = withId(event);
    const snap = autoSnapshot ?? this.autoSnapshot;
    if (this.autoFlush) return this._enqueue(ev, snap);
    const body = { event: ev };
    if (snap !== undefined) body.auto_snapshot = snap;
    return this._json("/api/pipeline/track", this._init("POST", { body: JSON.stringify(body), auth: this._auth("track") })).then((a) => this._remember(a));
  }

  /**
   * Tracks events in batches of at most 1,000 (one request each, in order):
   * `{results}` with one result per event. A refused event's result is
   * returned (its status, error), not retried; events answered 5xx or 429
   * inside a batch are sent again.
   */
  async trackBatch(events, { autoSnapshot } = {}) {
    if (this._closed) throw new Error("pipetrack client is closed");
    const evs = events.map(withId);
    const snap = autoSnapshot ?? this.autoSnapshot;
    const results = [];
    for (let i = 0; i < evs.length; i += MAX_BATCH) results.push(...(await this._batch(evs.slice(i, i + MAX_BATCH), snap)));
    return { results };
  }

  /** One batch request with its transport retries, then the events answered 5xx/429 again, bounded. */
  async _batch(evs, snap, { keepalive = false } = {}) {
    const results = new Array(evs.length);
    let todo = evs.map((_, i) => i);
    for (let attempt = 0; ; attempt++) {
      const body = { events: todo.map((i) => evs[i]) };
      if (snap !== undefined) body.auto_snapshot = snap;
      const doc = await this._json("/api/pipeline/track/batch", this._init("POST", { body: JSON.stringify(body), auth: this._auth("track"), keepalive }));
      const again = [];
      doc.results.forEach((r, k) => {
        results[todo[k]] = r;
        if (r.status >= 200 && r.status < 300) this._remember(r);
        else if (isRetryableStatus(r.status)) again.push(todo[k]);
      });
      if (!again.length || attempt >= this.retry.retries) return results;
      todo = again;
      await sleep(backoffDelay(attempt, this.retry));
    }
  }

  // ---- the queue ---------------------------------------------------------------------

  _enqueue(event, autoSnapshot) {
    const item = { event, autoSnapshot, d: deferred() };
    this._queue.push(item);
    if (this._queue.length >= this.autoFlush.maxEvents) this._startRound();
    else this._arm();
    return item.d.promise;
  }

  _arm(delay = this.autoFlush.maxDelayMs) {
    if (this._timer || this._closed) return;
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._queue.length) this._startRound();
    }, delay);
    // a timer must not keep a Node process alive: close() sends what is left
    if (typeof this._timer === "object" && this._timer && typeof this._timer.unref === "function") this._timer.unref();
  }

  _disarm() {
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
  }

  /** Sends everything queued now; the round resolves to {error} (null when all were answered). */
  _startRound(opts) {
    this._disarm();
    const items = this._queue.splice(0);
    const round = this._sendItems(items, opts).then((error) => {
      this._rounds.delete(round);
      return error;
    });
    this._rounds.add(round);
    return round;
  }

  async _sendItems(items, { keepalive = false } = {}) {
    let failure = null;
    const back = [];
    // consecutive items with the same auto_snapshot share a batch of at most MAX_BATCH
    for (let i = 0; i < items.length; ) {
      let j = i + 1;
      while (j < items.length && j - i < MAX_BATCH && items[j].autoSnapshot === items[i].autoSnapshot) j++;
      const group = items.slice(i, j);
      i = j;
      if (failure) {
        back.push(...group);
        continue;
      }
      let results;
      try {
        results = await this._batch(group.map((it) => it.event), group[0].autoSnapshot, { keepalive });
      } catch (e) {
        if (e instanceof PipetrackError && e.retryable) {
          // nothing lost: back to the head of the queue, sent on the next flush
          failure = e;
          back.push(...group);
          continue;
        }
        // the whole batch refused (413, 401, 400): no event of it can go
        for (const it of group) it.d.reject(e);
        this._report(e, group.map((it) => it.event));
        continue;
      }
      results.forEach((r, k) => {
        const it = group[k];
        if (r.status >= 200 && r.status < 300) it.d.resolve(answerOf(r));
        else {
          const err = errorFromResult(r);
          it.d.reject(err);
          this._report(err, [it.event]);
        }
      });
    }
    if (failure) {
      this._queue.unshift(...back);
      this._report(failure, back.map((it) => it.event));
      this._arm(Math.max(this.autoFlush.maxDelayMs, this.retry.minDelayMs));
    }
    return failure;
  }

  _report(err, events) {
    if (this.onError) {
      try {
        this.onError(err, events);
      } catch {
        // a throwing handler must not break delivery
      }
    }
  }

  /** Events queued or in flight, not yet answered. */
  get pending() {
    return this._queue.length;
  }

  /**
   * Sends everything queued and resolves when every event queued before the
   * call is answered (stored, replayed or refused); rejects with the
   * transport error when the server could not be reached within the retry
   * policy — those events stay queued and go with the next flush.
   */
  async flush() {
    const rounds = [...this._rounds];
    if (this._queue.length) rounds.push(this._startRound());
    const errors = (await Promise.all(rounds)).filter(Boolean);
    if (errors.length) throw errors[0];
  }

  /** Flushes, then stops the timer and the page listeners; later tracks reject. */
  async close() {
    if (this.autoFlush) {
      try {
        await this.flush();
      } finally {
        this._closed = true;
        this._disarm();
        if (this._unload) this._unload();
        this._unload = null;
        // what the last flush could not deliver is not kept by a closed
        // client: each waiting track() is told, rather than left pending
        for (const it of this._queue.splice(0))
          it.d.reject(new PipetrackError({ status: 0, code: "not_delivered", message: "the client was closed before this event was acknowledged; send it again (same id) with another client" }));
      }
    }
    this._closed = true;
  }

  // ---- pages going away --------------------------------------------------------------

  _listenPageHide() {
    const w = globalThis.window;
    const doc = globalThis.document;
    if (!w || typeof w.addEventListener !== "function") return;
    const onHide = () => this.sendOnPageHide();
    const onVisibility = () => {
      if (doc && doc.visibilityState === "hidden") this.sendOnPageHide();
    };
    w.addEventListener("pagehide", onHide);
    if (doc) doc.addEventListener("visibilitychange", onVisibility);
    this._unload = () => {
      w.removeEventListener("pagehide", onHide);
      if (doc) doc.removeEventListener("visibilitychange", onVisibility);
    };
  }

  /**
   * What a page does as it goes away (pagehide, visibilitychange to hidden):
   * the queue goes out in bodies under 60 KiB, the first with
   * fetch(..., {keepalive: true}) (it can carry the ingest key), the rest
   * with navigator.sendBeacon as text/plain JSON when the server needs no
   * key. Beaconed events stay queued, unconfirmed: if the page lives on,
   * the next flush sends them again and the server answers them as
   * replays — a beacon that was dropped loses nothing.
   */
  sendOnPageHide({ transport = "auto" } = {}) {
    if (!this._queue.length) return;
    this._disarm();
    const chunks = [];
    let cur = [];
    let size = 40;
    for (const it of this._queue) {
      const n = new TextEncoder().encode(JSON.stringify(it.event)).length + 1;
      if (cur.length && (size + n > UNLOAD_BODY_MAX || cur.length >= MAX_BATCH || it.autoSnapshot !== cur[0].autoSnapshot)) {
        chunks.push(cur);
        cur = [];
        size = 40;
      }
      cur.push(it);
      size += n;
    }
    if (cur.length) chunks.push(cur);
    const beacon = globalThis.navigator && typeof globalThis.navigator.sendBeacon === "function" ? globalThis.navigator.sendBeacon.bind(globalThis.navigator) : null;
    const canBeacon = beacon && !this._auth("track");
    const beaconed = [];
    chunks.forEach((chunk, k) => {
      const useFetch = transport === "fetch" || (transport === "auto" && (k === 0 || !canBeacon));
      if (useFetch) {
        const taken = new Set(chunk);
        this._queue = this._queue.filter((it) => !taken.has(it));
        const round = this._sendItems(chunk, { keepalive: true }).then((error) => {
          this._rounds.delete(round);
          return error;
        });
        this._rounds.add(round);
        return;
      }
      const body = { events: chunk.map((it) => it.event) };
      if (chunk[0].autoSnapshot !== undefined) body.auto_snapshot = chunk[0].autoSnapshot;
      const blob = new Blob([JSON.stringify(body)], { type: "text/plain;charset=UTF-8" });
      if (beacon && beacon(this.url + "/api/pipeline/track/batch", blob)) beaconed.push(...chunk);
    });
    // unconfirmed until a later flush hears them answered
    if (beaconed.length) this._arm();
  }

  // ---- traced steps ------------------------------------------------------------------

  /** A session bound to this client: `.track(step, status, extra)`, `.tracedStep(step, fn)`. */
  session(sessionId, pipelineType) {
    return new BoundSession(this, { sessionId, pipelineType });
  }

  /**
   * Tracks `started`, runs fn (sync or async), tracks `success` with output
   * `{duration_ms, result}` or `failure` with error `{code, message}`, and
   * returns fn's value or rethrows its exception unchanged. A tracking
   * failure never replaces fn's outcome: it goes to onError.
   */
  async tracedStep(session, step, fn, { output } = {}) {
    const { sessionId, pipelineType } = normalizeSession(session);
    const base = { session_id: sessionId, pipeline_type: pipelineType, step };
    // queued: the queue keeps the order, so fn need not wait for a flush
    const quietly = async (ev) => {
      const p = this.track(ev).catch((e) => {
        if (!this.autoFlush) this._report(e, [ev]); // the queue reports its own
      });
      if (!this.autoFlush) await p;
    };
    await quietly({ ...base, status: "started", ts: Date.now() });
    const t0 = now();
    let result;
    try {
      result = await fn();
    } catch (err) {
      await quietly({ ...base, status: "failure", ts: Date.now(), output: { duration_ms: Math.round(now() - t0) }, error: errorOf(err) });
      throw err;
    }
    const duration_ms = Math.round(now() - t0);
    await quietly({ ...base, status: "success", ts: Date.now(), output: { duration_ms, result: jsonValue(output ? output(result) : result) } });
    return result;
  }

  // ---- reads -------------------------------------------------------------------------

  /** The read token a track answer handed out for this session (it created the session), if any. */
  readTokenFor(sessionId) {
    return this._readTokens.get(sessionId) ?? null;
  }

  /**
   * GET /api/pipeline/status: `{status: 200, etag, data}`, or `{status: 304,
   * etag, data: null}` when `etag` still matches.
   */
  async status(sessionId, { etag, pipelineType, readToken, eventsLimit, historyLimit } = {}) {
    const q = new URLSearchParams({ session_id: sessionId });
    if (pipelineType) q.set("pipeline_type", pipelineType);
    if (eventsLimit != null) q.set("events_limit", String(eventsLimit));
    if (historyLimit != null) q.set("history_limit", String(historyLimit));
    const headers = etag ? { "If-None-Match": etag } : undefined;
    const res = await this._send(`/api/pipeline/status?${q}`, this._init("GET", { headers, auth: readToken ?? this._auth("read", this.readTokenFor(sessionId)) }));
    const tag = res.headers.get("etag");
    if (res.status === 304) return { status: 304, etag: tag ?? etag, data: null };
    return { status: res.status, etag: tag, data: await res.json() };
  }

  /** GET /api/pipeline/report (JSON): the session with every event, from seq 0. */
  report(sessionId, { readToken } = {}) {
    const q = new URLSearchParams({ session_id: sessionId, format: "json" });
    return this._json(`/api/pipeline/report?${q}`, this._init("GET", { auth: readToken ?? this._auth("read", this.readTokenFor(sessionId)) }));
  }

  /** POST /api/pipeline/read_token (API token): `{session_id, read_token, expires_at}` to hand to a page. */
  createReadToken(sessionId) {
    return this._json("/api/pipeline/read_token", this._init("POST", { body: JSON.stringify({ session_id: sessionId }), auth: this.token }));
  }

  /** GET /api/pipeline/pubkey: `{algorithm: "ed25519", public_key}` (base64 of the raw key). */
  publicKey() {
    return this._json("/api/pipeline/pubkey", this._init("GET", { auth: this.token }));
  }
}

function normalizeSession(session) {
  const sessionId = session && (session.sessionId ?? session.session_id);
  const pipelineType = session && (session.pipelineType ?? session.pipeline_type);
  if (typeof sessionId !== "string" || typeof pipelineType !== "string") throw new TypeError("a session is {sessionId, pipelineType}");
  return { sessionId, pipelineType };
}

export class BoundSession {
  constructor(client, { sessionId, pipelineType }) {
    this.client = client;
    this.sessionId = sessionId;
    this.pipelineType = pipelineType;
  }

  /** Tracks `step` with `status`; `extra` may add id, ts, input, output, error. */
  track(step, status, extra = {}, options) {
    return this.client.track({ ...extra, session_id: this.sessionId, pipeline_type: this.pipelineType, step, status }, options);
  }

  tracedStep(step, fn, options) {
    return this.client.tracedStep(this, step, fn, options);
  }

  get readToken() {
    return this.client.readTokenFor(this.sessionId);
  }

  status(options) {
    return this.client.status(this.sessionId, { pipelineType: this.pipelineType, ...options });
  }
}

/** A client for one pipetrackd. */
export function createClient(options) {
  return new PipetrackClient(options);
}

/** tracedStep(session, step, fn) on a client: the function form. */
export function tracedStep(client, session, step, fn, options) {
  return client.tracedStep(session, step, fn, options);
}
