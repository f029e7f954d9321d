// react.js - @pipetrack/client/react: a session's status in a React
// component, polled with useSWR the way pipetrackd asks (If-None-Match,
// poll_after_ms, stop at terminal) or pushed over Server-Sent Events with
// polling as the fallback.

import { useEffect, useRef, useState } from "react";
import useSWR from "swr";
import { errorFromResponse, PipetrackError } from "./errors.js";

const DEFAULT_POLL_MS = 2000;

function baseOf(options) {
  const url = options.url ?? (options.client && options.client.url);
  if (!url) throw new TypeError("pipetrack hooks: options.url (or options.client) is required");
  return String(url).replace(/\/+$/, "");
}

function statusQuery(sessionId, options) {
  const q = new URLSearchParams({ session_id: sessionId });
  if (options.pipelineType) q.set("pipeline_type", options.pipelineType);
  if (options.eventsLimit != null) q.set("events_limit", String(options.eventsLimit));
  if (options.historyLimit != null) q.set("history_limit", String(options.historyLimit));
  return q;
}

function credentialOf(sessionId, options) {
  if (options.readToken) return options.readToken;
  if (options.token) return options.token;
  if (options.client) return options.client.token ?? options.client.readTokenFor(sessionId) ?? options.client.readToken;
  return null;
}

/** How long until the next poll: the server's poll_after_ms, 0 (stop) once terminal. */
export function nextPollMs(data, fallbackMs = DEFAULT_POLL_MS) {
  if (!data) return fallbackMs;
  if (data.terminal) return 0;
  return typeof data.poll_after_ms === "number" && data.poll_after_ms > 0 ? data.poll_after_ms : fallbackMs;
}

/**
 * The status summary of a session, on useSWR: each poll sends If-None-Match
 * with the last ETag (a 304 keeps the very same data object, so nothing
 * re-renders), waits the answer's poll_after_ms, and stops once `terminal`.
 * A null sessionId fetches nothing. Reads with options.readToken (a page) or
 * options.token (server code) as a Bearer header.
 */
export function usePipelineStatus(sessionId, options = {}) {
  const base = sessionId ? baseOf(options) : null;
  const auth = sessionId ? credentialOf(sessionId, options) : null;
  const last = useRef({ id: null, etag: null, data: undefined });
  const fetchFn = options.fetch ?? (options.client && options.client._fetch) ?? ((...a) => globalThis.fetch(...a));
  const query = sessionId ? statusQuery(sessionId, options).toString() : "";
  const key = sessionId ? ["pipetrack:status", base, query, auth ?? ""] : null;

  const fetcher = async ([, b, q, a]) => {
    const id = `${b}?${q}|${a}`;
    const prev = last.current;
    const headers = {};
    if (a) headers.Authorization = `Bearer ${a}`;
    if (prev.id === id && prev.etag) headers["If-None-Match"] = prev.etag;
    let res;
    try {
      res = await fetchFn(`${b}/api/pipeline/status?${q}`, { headers, cache: "no-store" });
    } catch (e) {
      throw new PipetrackError({ status: 0, code: "network_error", message: `no answer from ${b}: ${e && e.message ? e.message : e}`, cause: e });
    }
    if (res.status === 304 && prev.id === id && prev.data !== undefined) return prev.data;
    if (!res.ok) throw await errorFromResponse(res);
    const data = await res.json();
    last.current = { id, etag: res.headers.get("etag"), data };
    return data;
  };

  const fallbackMs = options.pollMs ?? DEFAULT_POLL_MS;
  const swr = useSWR(key, fetcher, {
    refreshInterval: (data) => nextPollMs(data, fallbackMs),
    // a refusal (403, 404) will not change by asking again; no answer, 429 and 5xx may
    shouldRetryOnError: (err) => !(err instanceof PipetrackError) || err.retryable,
    dedupingInterval: 1000,
    ...(options.swr || {}),
  });
  return {
    data: swr.data,
    error: swr.error,
    isLoading: swr.isLoading,
    isValidating: swr.isValidating,
    terminal: Boolean(swr.data && swr.data.terminal),
    mutate: swr.mutate,
    transport: "polling",
  };
}

const CLOSED = 2;

/**
 * The status summary of a session pushed by GET /api/pipeline/status/stream
 * (`event: status`), closed once terminal. Without an EventSource
 * (options.EventSource null, or none in this runtime), or when the stream
 * fails (refused, or closed by the browser for good), it polls instead
 * through usePipelineStatus. EventSource cannot send headers: a page's read
 * token goes as `?read_token=`.
 */
export function usePipelineStream(sessionId, options = {}) {
  const ES = options.EventSource === undefined ? globalThis.EventSource : options.EventSource;
  const base = sessionId ? baseOf(options) : null;
  const readToken = sessionId ? options.readToken ?? (options.client ? options.client.readTokenFor(sessionId) ?? options.client.readToken : null) : null;
  const streamKey = sessionId ? `${base}|${statusQuery(sessionId, options)}|${readToken ?? ""}` : null;
  const [state, setState] = useState({ key: null, data: undefined, error: undefined, failed: false });
  const current = state.key === streamKey ? state : { key: streamKey, data: undefined, error: undefined, failed: false };
  const fallback = Boolean(sessionId) && (!ES || current.failed);

  useEffect(() => {
    if (!sessionId || !ES) return undefined;
    const q = statusQuery(sessionId, options);
    if (readToken) q.set("read_token", readToken);
    let es;
    try {
      es = new ES(`${base}/api/pipeline/status/stream?${q}`, options.eventSourceInit);
    } catch (e) {
      setState({ key: streamKey, data: undefined, error: e, failed: true });
      return undefined;
    }
    let done = false;
    es.addEventListener("status", (m) => {
      let data;
      try {
        data = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      setState((s) => ({ key: streamKey, data, error: undefined, failed: s.key === streamKey && s.failed }));
      if (data.terminal) {
        done = true;
        es.close();
      }
    });
    es.addEventListener("error", (e) => {
      if (done) return;
      // CONNECTING: the EventSource reconnects by itself; CLOSED: it gave up
      if (es.readyState === CLOSED) {
        done = true;
        es.close();
        const err = new PipetrackError({ status: e && typeof e.code === "number" ? e.code : 0, code: "stream_failed", message: `the status stream of ${sessionId} failed${e && e.message ? ": " + e.message : ""}` });
        setState((s) => ({ key: streamKey, data: s.key === streamKey ? s.data : undefined, error: err, failed: true }));
      }
    });
    return () => {
      done = true;
      es.close();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [streamKey, ES]);

  const polled = usePipelineStatus(fallback ? sessionId : null, {
    ...options,
    readToken: options.readToken ?? readToken ?? undefined,
    swr: { fallbackData: current.data, ...(options.swr || {}) },
  });
  if (fallback) return { ...polled, streamError: current.error };
  return {
    data: current.data,
    error: current.error,
    isLoading: Boolean(sessionId) && current.data === undefined,
    isValidating: false,
    terminal: Boolean(current.data && current.data.terminal),
    mutate: undefined,
    transport: "stream",
  };
}
