// pipetrack dashboard: plain ES module, no build step, no network beyond this
// server. Every value from an event goes into the page as text (textContent
// through h()), never as HTML.

const view = document.getElementById("view");
const liveLabel = document.getElementById("live");
let stopLive = () => {};

// ---- DOM ---------------------------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") el.setAttribute("style", v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// A name (snake_case) that may wrap only after its underscores: a <wbr>
// after each, and CSS that never breaks inside a word.
const name = (s) => h("span", { class: "name-text" }, String(s).split(/(?<=_)/).flatMap((part, i) => (i ? [h("wbr"), part] : [part])));
const badge = (state, text) => h("span", { class: `badge s-${state}` }, text || state.replace("_", " "));
const when = (ms) => (ms === null || ms === undefined || ms < 0 ? "–" : new Date(ms).toLocaleString());
// a time as one unbreakable piece (the full time in its title)
const date = (ms) => h("time", { class: "date", datetime: ms > 0 ? new Date(ms).toISOString() : null, title: ms > 0 ? new Date(ms).toString() : null }, when(ms));
const dur = (ms) => (ms === null || ms === undefined ? "–" : ms < 1000 ? `${ms} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60000).toFixed(1)} min`);
const json = (v) => h("pre", {}, v === null || v === undefined ? "null" : JSON.stringify(v, null, 2));

// replaceChildren() writes null as the text "null": absent parts are dropped
function fill(el, ...nodes) {
  el.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  return el;
}
function show(...nodes) {
  fill(view, ...nodes);
}

// ---- time range -------------------------------------------------------------------
// One range for every view, kept in the hash (`range=1h|24h|7d`, or
// `range=custom&from=…&to=…` in local time as a datetime-local input writes
// it), so a link or a reload shows the same window.

const RANGES = { "1h": ["last hour", 3600e3], "24h": ["last day", 86400e3], "7d": ["last week", 7 * 86400e3] };
const DEFAULT_RANGE = "24h";
let range = null; // {key, from, to (null: now), label, query}

// A hash without a range (a session's link) keeps the one chosen last.
let lastRange = new URLSearchParams();
function parseRange(params) {
  if (!params.get("range")) params = lastRange;
  else lastRange = new URLSearchParams([...params].filter(([k]) => ["range", "from", "to"].includes(k)));
  const key = params.get("range") || DEFAULT_RANGE;
  if (key === "custom") {
    const from = new Date(params.get("from") || "").getTime(), to = new Date(params.get("to") || "").getTime();
    if (from >= 0 && to > from) {
      const q = new URLSearchParams({ range: "custom", from: params.get("from"), to: params.get("to") });
      return { key, from, to, label: `${when(from)} – ${when(to)}`, query: q.toString() };
    }
  }
  const k = RANGES[key] ? key : DEFAULT_RANGE;
  return { key: k, from: Date.now() - RANGES[k][1], to: null, label: RANGES[k][0], query: `range=${k}` };
}
// the API's since/until of the range
const rangeArgs = () => `since=${Math.floor(range.from)}${range.to ? `&until=${range.to}` : ""}`;
// the bucket size of a range's charts: at most a few hundred buckets
const intervalOf = (r) => ((r.to || Date.now()) - r.from <= 3 * 3600e3 ? "minute" : (r.to || Date.now()) - r.from <= 60 * 86400e3 ? "hour" : "day");

// a hash of this view with other query parameters (the range kept)
function hashWith(path, params) {
  const q = new URLSearchParams(params);
  for (const k of ["range", "from", "to"]) q.delete(k);
  const rest = q.toString();
  return `#${path}?${range.query}${rest ? `&${rest}` : ""}`;
}

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function rangePicker(path, params) {
  const from = h("input", { type: "datetime-local", "aria-label": "from", value: localInput(range.from) });
  const to = h("input", { type: "datetime-local", "aria-label": "to", value: localInput(range.to || Date.now()) });
  const custom = h("span", { class: "custom", hidden: range.key !== "custom" }, from, " – ", to,
    h("button", { class: "plain", onclick: () => apply("custom") }, "Apply"));
  const sel = h("select", { "aria-label": "time range", onchange: () => (sel.value === "custom" ? (custom.hidden = false) : apply(sel.value)) },
    Object.entries(RANGES).map(([k, [label]]) => h("option", { value: k, selected: k === range.key }, label)),
    h("option", { value: "custom", selected: range.key === "custom" }, "custom…"));
  function apply(key) {
    const q = new URLSearchParams(params);
    q.delete("cursor");
    q.set("range", key);
    if (key === "custom") { q.set("from", from.value); q.set("to", to.value); } else { q.delete("from"); q.delete("to"); }
    location.hash = `#${path}?${q}`;
  }
  return h("div", { class: "range" }, sel, custom);
}

// ---- charts ---------------------------------------------------------------------------
// SVG drawn by hand (docs/decisions.md, Dashboard): every value of a bar or a
// point is in its data-* attributes and its <title> (the tooltip).

const SVG = "http://www.w3.org/2000/svg";
function sv(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}
const niceMax = (v) => { const p = 10 ** Math.floor(Math.log10(Math.max(v, 1))); return [1, 2, 5, 10].map((m) => m * p).find((x) => x >= v); };
function bucketLabel(ms, interval, long) {
  const d = new Date(ms);
  if (interval === "day") return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  const t = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return long ? `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${t}` : t;
}

// axes of a time chart: y grid lines with labels, x labels at both ends and the middle
function frame(W, H, pad, top, fmt, buckets, interval) {
  const g = sv("g", { class: "axes" });
  for (const v of [0, top / 2, top]) {
    const y = pad.t + (1 - v / top) * (H - pad.t - pad.b);
    g.append(sv("line", { x1: pad.l, x2: W - pad.r, y1: y, y2: y }), sv("text", { x: pad.l - 4, y: y + 4, "text-anchor": "end" }, fmt(v)));
  }
  const n = buckets.length, bw = (W - pad.l - pad.r) / Math.max(n, 1);
  // the date too when the buckets span more than a day; a middle label only where there is room
  const long = interval === "hour" && n > 24;
  const marks = n > 2 ? (W >= (long ? 560 : 360) ? [0, Math.floor(n / 2), n - 1] : [0, n - 1]) : [...Array(n).keys()];
  for (const i of marks)
    g.append(sv("text", { x: i === 0 ? pad.l : i === n - 1 ? W - pad.r : pad.l + (i + 0.5) * bw, y: H - 6, "text-anchor": i === 0 ? "start" : i === n - 1 ? "end" : "middle" }, bucketLabel(buckets[i].start, interval, long)));
  return g;
}

// sessions started per bucket, split into completed, failed and still open
function volumeChart(buckets, interval, W) {
  const H = 190, pad = { l: 36, r: 6, t: 8, b: 24 };
  const top = niceMax(Math.max(1, ...buckets.map((b) => b.sessions)));
  const bw = (W - pad.l - pad.r) / Math.max(buckets.length, 1), gap = bw > 4 ? 1 : 0, scale = (H - pad.t - pad.b) / top;
  return sv("svg", { class: "chart volume", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "sessions started per bucket" },
    frame(W, H, pad, top, (v) => (Number.isInteger(v) ? v : ""), buckets, interval),
    buckets.map((b, i) => {
      let y = H - pad.b;
      const open = b.sessions - b.completed - b.failed;
      return sv("g", { class: "bar", "data-start": b.start, "data-sessions": b.sessions, "data-completed": b.completed, "data-failed": b.failed },
        sv("title", {}, `${bucketLabel(b.start, interval, true)}: ${b.sessions} started, ${b.completed} completed, ${b.failed} failed, ${open} still open`),
        sv("rect", { x: pad.l + i * bw, y: pad.t, width: bw, height: H - pad.t - pad.b, class: "hit" }),
        [[b.completed, "c-ok"], [b.failed, "c-bad"], [open, "c-open"]].filter(([v]) => v > 0).map(([v, cls]) => {
          y -= v * scale;
          return sv("rect", { x: pad.l + i * bw + gap, y, width: Math.max(bw - 2 * gap, 1), height: v * scale, class: cls });
        }));
    }));
}

// failed / started per bucket, buckets without sessions left out
function rateChart(buckets, interval, W) {
  const H = 150, pad = { l: 36, r: 6, t: 8, b: 24 };
  const bw = (W - pad.l - pad.r) / Math.max(buckets.length, 1), ih = H - pad.t - pad.b;
  const pts = buckets.map((b, i) => ({ b, x: pad.l + (i + 0.5) * bw })).filter((p) => p.b.sessions > 0)
    .map((p) => Object.assign(p, { rate: p.b.failed / p.b.sessions, y: pad.t + (1 - p.b.failed / p.b.sessions) * ih }));
  return sv("svg", { class: "chart rate", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "failure rate per bucket" },
    frame(W, H, pad, 1, (v) => `${Math.round(v * 100)}%`, buckets, interval),
    pts.length > 1 ? sv("polyline", { points: pts.map((p) => `${p.x},${p.y}`).join(" "), class: "line" }) : null,
    pts.map((p) => sv("circle", { cx: p.x, cy: p.y, r: 3.5, class: "pt", "data-start": p.b.start, "data-rate": p.rate.toFixed(4) },
      sv("title", {}, `${bucketLabel(p.b.start, interval, true)}: ${Math.round(p.rate * 100)}% failed (${p.b.failed} of ${p.b.sessions})`))));
}

// p50 and p95 of each step's duration over the range: a row per step, the
// name above its bars so long names fit at phone width
function durationChart(steps, W) {
  const rows = steps.filter((st) => st.duration_ms && st.duration_ms.p95 !== null);
  if (!rows.length) return h("p", { class: "empty" }, "No step durations in this range (a step's duration runs from its started event to its success).");
  const row = 40, H = rows.length * row + 4, label = 150, x0 = W >= 560 ? label : 0;
  // wide: name, bars, values on one line; narrow: name and values above the bars
  const top = Math.max(...rows.map((st) => st.duration_ms.p95)), bw = x0 ? W - x0 - 150 : W - 2;
  return sv("svg", { class: "chart durations", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "step durations, p50 and p95" },
    rows.map((st, i) => {
      const y = i * row + 4, d = st.duration_ms, by = x0 ? y + 8 : y + 18;
      return sv("g", { class: "dur", "data-step": st.step, "data-p50": d.p50, "data-p95": d.p95 },
        sv("title", {}, `${st.step}: p50 ${dur(d.p50)}, p95 ${dur(d.p95)}`),
        sv("text", { x: 0, y: x0 ? y + 19 : y + 12, class: "label" }, st.step),
        sv("rect", { x: x0, y: by, width: Math.max((d.p95 / top) * bw, 2), height: 14, class: "c-p95" }),
        sv("rect", { x: x0, y: by, width: Math.max((d.p50 / top) * bw, 2), height: 14, class: "c-p50" }),
        x0 ? sv("text", { x: x0 + Math.max((d.p95 / top) * bw, 2) + 6, y: by + 11, class: "value" }, `p50 ${dur(d.p50)} · p95 ${dur(d.p95)}`)
          : sv("text", { x: W, y: y + 12, class: "value", "text-anchor": "end" }, `p50 ${dur(d.p50)} · p95 ${dur(d.p95)}`));
    }));
}

// one count per bucket
function countChart(buckets, interval, W, what) {
  const H = 150, pad = { l: 36, r: 6, t: 8, b: 24 };
  const top = niceMax(Math.max(1, ...buckets.map((b) => b.n)));
  const bw = (W - pad.l - pad.r) / Math.max(buckets.length, 1), gap = bw > 4 ? 1 : 0, scale = (H - pad.t - pad.b) / top;
  return sv("svg", { class: "chart trend", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": `${what} per bucket` },
    frame(W, H, pad, top, (v) => (Number.isInteger(v) ? v : ""), buckets, interval),
    buckets.map((b, i) => sv("g", { class: "bar", "data-start": b.start, "data-n": b.n },
      sv("title", {}, `${bucketLabel(b.start, interval, true)}: ${b.n} ${what}`),
      sv("rect", { x: pad.l + i * bw, y: pad.t, width: bw, height: H - pad.t - pad.b, class: "hit" }),
      b.n ? sv("rect", { x: pad.l + i * bw + gap, y: H - pad.b - b.n * scale, width: Math.max(bw - 2 * gap, 1), height: b.n * scale, class: "c-bad" }) : null)));
}

const legend = (...items) => h("div", { class: "legend" }, items.map(([cls, text]) => h("span", {}, h("i", { class: cls }), text)));

// ---- API ---------------------------------------------------------------------

function token() {
  return sessionStorage.getItem("pipetrack.token");
}

function askToken() {
  const dlg = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      if (input.value) sessionStorage.setItem("pipetrack.token", input.value);
      resolve();
    }, { once: true });
    if (!dlg.open) dlg.showModal();
  });
}

async function api(path, opts = {}) {
  for (let tries = 0; tries < 3; tries++) {
    const headers = Object.assign({}, opts.headers || {});
    if (token()) headers.Authorization = `Bearer ${token()}`;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    if (r.status === 401) {
      await askToken();
      continue;
    }
    if (r.status === 304) return { status: 304, etag: r.headers.get("ETag") };
    const type = r.headers.get("Content-Type") || "";
    const body = type.startsWith("application/json") ? await r.json() : await r.text();
    if (!r.ok) {
      const msg = body && body.error ? body.error.message : `${r.status}`;
      throw Object.assign(new Error(msg), { status: r.status });
    }
    return { status: r.status, etag: r.headers.get("ETag"), body };
  }
  throw new Error("an API token is needed");
}

// Live data: Server-Sent Events read through fetch (so the token can go in a
// header), else polling with If-None-Match every 2 s; polling stops when
// `done(data)` says so (a terminal session).
// A 404 (the session does not exist) ends it: `gone(error)` is called and
// nothing is asked again.
function live(streamPath, pollPath, onData, done = () => false, gone = null) {
  let stopped = false;
  const ctl = new AbortController();
  const stop = () => { stopped = true; ctl.abort(); };

  async function poll() {
    liveLabel.textContent = "polling every 2 s";
    let etag = null;
    while (!stopped) {
      try {
        const headers = etag ? { "If-None-Match": etag } : {};
        const r = await api(pollPath, { headers });
        if (r.status !== 304) {
          etag = r.etag;
          onData(r.body);
          if (done(r.body)) { liveLabel.textContent = "finished: not polling"; return; }
        }
      } catch (e) {
        if (e.status === 404 && gone) { stopped = true; gone(e); return; }
        liveLabel.textContent = `polling: ${e.message}`;
      }
      await new Promise((res) => setTimeout(res, 2000));
    }
  }

  async function stream() {
    const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
    const r = await fetch(streamPath, { headers, signal: ctl.signal });
    if (r.status === 404 && gone) {
      const body = await r.json().catch(() => null);
      throw Object.assign(new Error(body && body.error ? body.error.message : "not found"), { status: 404 });
    }
    if (!r.ok || !r.body) throw new Error(`stream ${r.status}`);
    liveLabel.textContent = "live";
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onData(JSON.parse(data), event);
      }
    }
    throw new Error("stream ended");
  }

  (async () => {
    if (streamPath && !sessionStorage.getItem("pipetrack.nostream")) {
      try { await stream(); } catch (e) {
        if (stopped) return;
        if (e.status === 404 && gone) { stopped = true; gone(e); return; }
      }
    }
    if (!stopped && pollPath) poll();
  })();
  return stop;
}

// ---- views ---------------------------------------------------------------------

let pipelines = null;
async function definitions() {
  if (!pipelines) pipelines = (await api("/api/pipeline/definitions")).body.pipelines;
  return pipelines;
}

// Sessions last active in the range, most recent first: the server's
// listing bounded by since/until (an index range at any store size), a page
// of 50 from `cursor`. A page filtered by state may be short with a cursor.
async function sessionsInRange({ type, state, cursor }) {
  const q = new URLSearchParams({ limit: "50", since: String(Math.floor(range.from)) });
  if (range.to) q.set("until", String(range.to));
  if (type) q.set("pipeline_type", type);
  if (state) q.set("state", state);
  if (cursor) q.set("cursor", cursor);
  const r = await api(`/api/pipeline/sessions?${q}`);
  return { items: r.body.items, next: r.body.next_cursor };
}

function sessionsTable(items) {
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Session"), h("th", { class: "hide-narrow" }, "Pipeline"), h("th", {}, "State"), h("th", {}, "Progress"), h("th", { class: "num hide-narrow" }, "Events"), h("th", { class: "hide-narrow" }, "Last activity"))),
    h("tbody", {}, items.map((s) => h("tr", {},
      h("td", {}, h("a", { href: `#/session/${encodeURIComponent(s.session_id)}`, class: "mono-id" }, s.session_id)),
      h("td", { class: "hide-narrow" }, s.pipeline_type),
      h("td", {}, badge(s.state)),
      h("td", {}, s.progress ? `${s.progress.completed}/${s.progress.total}` : "–"),
      h("td", { class: "num hide-narrow" }, s.event_count),
      h("td", { class: "hide-narrow muted" }, date(s.updated_at))))));
}

async function sessionsView(params) {
  const defs = await definitions();
  const type = params.get("pipeline_type") || "";
  const state = params.get("state") || "";
  const typeSel = h("select", { "aria-label": "pipeline type", onchange: () => go() },
    h("option", { value: "" }, "all pipelines"), defs.map((p) => h("option", { value: p.type, selected: p.type === type }, p.type)));
  const stateSel = h("select", { "aria-label": "state", onchange: () => go() },
    ["", "in_progress", "completed", "failed", "stalled", "pending"].map((s) => h("option", { value: s, selected: s === state }, s ? s.replace("_", " ") : "all states")));
  function go(cursor) {
    const q = {};
    if (typeSel.value) q.pipeline_type = typeSel.value;
    if (stateSel.value) q.state = stateSel.value;
    if (cursor) q.cursor = cursor;
    location.hash = hashWith("/sessions", q);
  }
  const table = h("div", {}, h("p", { class: "empty" }, "loading…"));
  show(h("h1", {}, "Sessions"), h("div", { class: "filters" }, typeSel, stateSel, rangePicker("/sessions", params)), h("div", { class: "card" }, table));
  let last = "";
  async function load() {
    if (!range.to) range.from = parseRange(params).from; // "last hour" moves on
    const r = await sessionsInRange({ type, state, cursor: params.get("cursor") });
    const filtered = type || state || params.get("cursor");
    // an empty range: is the store empty ("No sessions yet.")?
    const none = r.items.length === 0 && !filtered && (await api("/api/pipeline/sessions?limit=1")).body.items.length === 0;
    const text = JSON.stringify(r.items) + r.next + none;
    if (text === last) return; // unchanged: no re-render, no flicker
    last = text;
    fill(table, r.items.length === 0
      ? h("p", { class: "empty" }, none ? "No sessions yet." : `No sessions active in the ${range.key === "custom" ? `range ${range.label}` : range.label}${filtered ? " with these filters" : ""}${r.next ? " on this page" : ""}.`)
      : sessionsTable(r.items),
      r.next ? h("p", {}, h("button", { class: "plain", onclick: () => go(r.next) }, "Older sessions →")) : null);
  }
  await load();
  liveLabel.textContent = "refreshing every 5 s";
  const timer = setInterval(() => load().catch(() => {}), 5000);
  stopLive = () => clearInterval(timer);
}

function timeline(events, steps) {
  const spans = {};
  for (const e of events) {
    const s = (spans[e.step] = spans[e.step] || { start: null, end: null, status: "started" });
    if (e.status === "started") { if (s.start === null) s.start = e.ts; }
    else { s.end = e.ts; s.status = e.status; if (s.start === null) s.start = e.ts; }
  }
  const all = Object.values(spans);
  if (!all.length) return h("p", { class: "empty" }, "No steps yet.");
  const t0 = Math.min(...all.map((s) => s.start)), t1 = Math.max(...all.map((s) => s.end ?? s.start), t0 + 1);
  const order = steps.filter((n) => spans[n]).concat(Object.keys(spans).filter((n) => !steps.includes(n)));
  return h("div", { class: "timeline" }, order.map((step) => {
    const s = spans[step];
    const left = ((s.start - t0) / (t1 - t0)) * 100, right = (((s.end ?? s.start) - t0) / (t1 - t0)) * 100;
    // at least 1 % wide, and kept inside its track (a step at the very end)
    const width = Math.max(right - left, 1), at = Math.min(left, 100 - width);
    return h("div", { class: "tl-row" }, h("span", { class: "tl-name" }, name(step)),
      h("div", { class: "tl-track" }, h("div", { class: `tl-bar t-${s.status}`, style: `left:${at}%;width:${width}%`, title: `${step}: ${s.status}` })),
      h("span", { class: "muted" }, s.end !== null ? dur(s.end - s.start) : "running"));
  }));
}

async function sessionView(id) {
  const defs = await definitions();
  const head = h("div", {}), body = h("div", {}, h("p", { class: "empty" }, "loading…"));
  const verifyOut = h("div", {}), reportOut = h("div", {});
  show(head, body);
  let lastText = "";
  function render(st) {
    const text = JSON.stringify(st);
    if (text === lastText) return;
    lastText = text;
    const ck = st.checksum, def = defs.find((p) => p.type === st.pipeline_type) || { steps: [], optional: [] };
    head.replaceChildren(h("h1", {}, `Session ${st.session_id} `, badge(ck.state)),
      h("div", { class: "card" },
        h("div", { class: "row" }, h("span", {}, `${st.pipeline_type} · ${ck.progress.completed}/${ck.progress.total} steps`),
          h("div", { class: "progress", role: "progressbar", "aria-valuenow": ck.progress.percent, "aria-valuemin": 0, "aria-valuemax": 100 }, h("div", { style: `width:${ck.progress.percent}%` })),
          h("strong", {}, `${ck.progress.percent}%`)),
        h("p", { class: "muted" }, `${st.event_count} events · duration ${dur(ck.duration_ms)} · `, st.terminal ? "finished" : `next update in ${st.poll_after_ms / 1000} s at the latest`),
        h("p", {}, "Chain hash ", h("span", { class: "mono" }, ck.chain_hash)),
        h("div", { class: "row" },
          h("button", { onclick: verify }, "Verify chain"),
          h("button", { class: "plain", onclick: snapshot }, "Take snapshot"),
          h("button", { class: "plain", onclick: report }, "Show report")),
        verifyOut));
    const stepState = (n) => ck.failed_steps.includes(n) ? "failure" : ck.completed_steps.includes(n) ? "success" : st.events.some((e) => e.step === n) ? "running" : "missing";
    body.replaceChildren(
      h("h2", {}, "Steps"),
      h("div", { class: "steps" }, def.steps.map((n, i) => h("div", { class: "step" }, h("span", { class: "name" }, name(n)),
        badge(stepState(n), { failure: "failed", success: "done", running: "running", missing: def.optional.includes(n) ? "optional" : "waiting" }[stepState(n)]),
        ck.out_of_order_steps.includes(n) ? h("span", { class: "muted" }, " out of order") : null))),
      h("h2", {}, "Timeline"), h("div", { class: "card" }, timeline(st.events, def.steps)),
      h("h2", {}, "Events"),
      h("div", { class: "card" }, st.events.length === 0 ? h("p", { class: "empty" }, "No events.") : h("table", { class: "events" },
        h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Step"), h("th", {}, "Status"), h("th", { class: "hide-narrow" }, "Time"), h("th", {}, "Input / output / error"))),
        h("tbody", {}, st.events.slice().reverse().map((e) => h("tr", {},
          h("td", { class: "num" }, e.seq), h("td", {}, name(e.step)), h("td", {}, badge(e.status)),
          h("td", { class: "hide-narrow muted" }, when(e.ts)),
          h("td", { class: "payload" }, e.redacted ? [badge("redacted", "payload redacted"), " "] : null,
            json(e.redacted ? { error: e.error } : { input: e.input, output: e.output, error: e.error }))))))),
      h("h2", {}, "Snapshots"),
      h("div", { class: "card" }, st.history.length === 0 ? h("p", { class: "empty" }, "No snapshots.") : h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Snapshot"), h("th", {}, "State"), h("th", { class: "num" }, "Events"), h("th", { class: "hide-narrow" }, "Taken"), h("th", { class: "hide-narrow" }, "Notes"))),
        h("tbody", {}, st.history.map((s) => h("tr", {}, h("td", { class: "mono" }, s.id), h("td", {}, badge(s.state)), h("td", { class: "num" }, s.event_count), h("td", { class: "hide-narrow muted" }, when(s.created_at)), h("td", { class: "hide-narrow" }, s.notes || "")))))),
      reportOut);
  }
  async function verify() {
    verifyOut.replaceChildren(h("p", { class: "muted" }, "verifying…"));
    const v = (await api(`/api/pipeline/verify?session_id=${encodeURIComponent(id)}`)).body;
    verifyOut.replaceChildren(v.ok ? h("p", { id: "verify-result" }, badge("ok", "chain verified: every event and snapshot matches")) :
      h("div", { id: "verify-result" }, h("p", {}, badge("mismatch", `${v.mismatches.length} mismatch(es): the stored data was altered`)),
        h("ul", {}, v.mismatches.map((m) => h("li", {}, m.kind === "event" ? `event seq ${m.seq} (${m.event_id}): ${m.reason}` : `${m.kind} ${m.id || ""}: ${m.reason}`)))));
  }
  async function snapshot() {
    await api("/api/pipeline/snapshot", { method: "POST", body: { session_id: id, notes: "from the dashboard" } });
  }
  async function report() {
    fill(reportOut, h("p", { class: "muted" }, "reading the report…"));
    const r = await api(`/api/pipeline/report?session_id=${encodeURIComponent(id)}`);
    fill(reportOut, reportView(r.body, id));
    reportOut.scrollIntoView({ block: "start" });
  }
  const q = `session_id=${encodeURIComponent(id)}`;
  stopLive = live(`/api/pipeline/status/stream?${q}`, `/api/pipeline/status?${q}`, render, (st) => st.terminal, (e) => {
    liveLabel.textContent = "not polling: no such session";
    show(h("h1", {}, "No such session"),
      h("div", { class: "card" }, h("p", {}, `No session "${id}" is stored on this server.`),
        h("p", { class: "muted" }, e.message),
        h("p", {}, h("a", { href: "#/sessions" }, "← All sessions"))));
  });
}

// The issue report (GET /api/pipeline/report, JSON) as HTML: the sections of
// its Markdown form, every value a text node. "Copy as Markdown" copies the
// server's own Markdown text (format=markdown).
function reportView(rp, id) {
  const list = (xs) => (xs.length ? xs.map((x, i) => [i ? ", " : "", name(x)]) : "none");
  const item = (label, ...v) => [h("dt", {}, label), h("dd", {}, ...v)];
  const err = (e) => (e && e.error ? `${e.error.code || "unknown"}: ${e.error.message || ""}` : "");
  const copyOut = h("span", { class: "muted", role: "status" });
  async function copy() {
    copyOut.textContent = "copying…";
    try {
      const md = (await api(`/api/pipeline/report?session_id=${encodeURIComponent(id)}&format=markdown`)).body;
      await navigator.clipboard.writeText(md);
      copyOut.textContent = "copied as Markdown";
    } catch (e) {
      copyOut.textContent = `could not copy: ${e.message}`;
    }
  }
  const ff = rp.first_failure, v = rp.verification, hist = rp.checksum_history || [];
  return h("section", { id: "report", class: "card report" },
    h("div", { class: "row spread" }, h("h2", {}, `Pipeline report: ${rp.session_id}`),
      h("span", { class: "row" }, copyOut, h("button", { class: "plain", onclick: copy }, "Copy as Markdown"))),
    h("dl", { class: "facts" },
      item("Pipeline", rp.pipeline_type),
      item("State", badge(rp.state)),
      item("Complete and in order", rp.is_valid ? "yes" : "no"),
      item("Progress", rp.progress ? `${rp.progress.completed}/${rp.progress.total} (${rp.progress.percent}%)` : "n/a"),
      item("Duration", dur(rp.duration_ms)),
      item("Generated at", date(rp.generated_at)),
      item("Failed steps", list(rp.failed_steps)),
      item("Missing steps", list(rp.missing_steps)),
      item("Out-of-order steps", list(rp.out_of_order_steps))),
    h("h3", {}, "First failure"),
    ff ? h("p", { class: "first-failure" }, "Step ", h("strong", {}, name(ff.step)), ` (seq ${ff.seq}, `, date(ff.ts), "): ", h("span", { class: "error" }, err(ff)))
      : h("p", { class: "first-failure muted" }, "none"),
    h("h3", {}, `Events (${rp.events.length})`),
    h("table", { class: "report-events" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Seq"), h("th", { class: "hide-narrow" }, "Time"), h("th", {}, "Step"), h("th", {}, "Status"), h("th", {}, "Error"))),
      h("tbody", {}, rp.events.map((e) => h("tr", {}, h("td", { class: "num" }, e.seq), h("td", { class: "hide-narrow muted" }, date(e.ts)),
        h("td", {}, name(e.step)), h("td", {}, badge(e.status)), h("td", {}, err(e)))))),
    h("h3", {}, `Checksum history (${hist.length})`),
    hist.length ? h("ul", { class: "history" }, hist.map((c) => h("li", {}, h("span", { class: "mono" }, c.id), " at ", date(c.created_at), ": ",
      badge(c.state), ` ${c.event_count} events, chain `, h("span", { class: "mono" }, `${c.chain_hash.slice(0, 16)}…`), c.notes ? ` — ${c.notes}` : null)))
      : h("p", { class: "muted" }, "No snapshots."),
    h("h3", {}, "Chain"),
    h("dl", { class: "facts" },
      item("Chain hash", h("span", { class: "mono" }, rp.chain_hash)),
      item("Verification", h("span", { class: "verification" }, v.ok ? badge("ok", "ok, every link and snapshot matches")
        : [badge("mismatch", `${v.mismatches.length} mismatch(es)`), h("ul", {}, v.mismatches.map((m) => h("li", {}, `${m.kind} ${m.seq ?? m.id ?? ""}: ${m.reason}`)))]))));
}

// Issues seen in the range (first seen before its end, last seen after its
// start: the server's since/until), up to `maxPages` pages of 100; `q`
// keeps those whose code, title or error message holds it (case-insensitive).
async function issuesInRange(status, q = "", maxPages = 10) {
  const items = [];
  let cursor = null, pages = 0;
  const needle = q.toLowerCase();
  do {
    const u = new URLSearchParams({ limit: "100", since: String(Math.floor(range.from)) });
    if (range.to) u.set("until", String(range.to));
    if (status !== "all") u.set("status", status);
    if (cursor) u.set("cursor", cursor);
    const r = await api(`/api/pipeline/issues?${u}`);
    pages++;
    for (const x of r.body.items) {
      const msg = x.sample_event && x.sample_event.error ? x.sample_event.error.message || "" : "";
      if (!needle || [x.code, x.title, msg].some((t) => (t || "").toLowerCase().includes(needle))) items.push(x);
    }
    cursor = r.body.next_cursor;
  } while (cursor && pages < maxPages);
  return items;
}

function issuesTable(items, onResolve) {
  return h("table", { class: "issues" },
    h("thead", {}, h("tr", {}, h("th", {}, "Issue"), h("th", {}, "Status"), h("th", { class: "num" }, "Count"), h("th", { class: "num hide-narrow" }, "Sessions"), h("th", { class: "hide-narrow" }, "First / last seen"), onResolve ? h("th", {}, "") : null)),
    h("tbody", {}, items.map((x) => {
      const msg = x.sample_event && x.sample_event.error ? x.sample_event.error.message : null;
      return h("tr", {},
        h("td", {}, h("a", { href: `#/issue/${encodeURIComponent(x.id)}?${range.query}`, class: "issue-link" }, h("strong", {}, name(x.title))),
          msg ? h("div", { class: "issue-msg" }, msg) : null,
          h("div", { class: "mono muted" }, x.fingerprint),
          x.last_session_id ? h("a", { href: `#/session/${encodeURIComponent(x.last_session_id)}` }, `last: ${x.last_session_id}`) : null),
        h("td", {}, badge(x.status)), h("td", { class: "num" }, x.count), h("td", { class: "num hide-narrow" }, x.sessions_affected),
        h("td", { class: "hide-narrow muted" }, date(x.first_seen), h("br"), date(x.last_seen)),
        onResolve ? h("td", {}, x.status === "open" ? h("button", { class: "plain", onclick: () => onResolve(x) }, "Resolve") : null) : null);
    })));
}

async function issuesView(params) {
  const status = params.get("status") || "open";
  const q = params.get("q") || "";
  const sel = h("select", { "aria-label": "status", onchange: () => { location.hash = hashWith("/issues", { status: sel.value, q: input.value }); } },
    ["open", "resolved", "all"].map((s) => h("option", { value: s, selected: s === status }, s)));
  const input = h("input", { type: "search", "aria-label": "error code or message", placeholder: "error code or message", value: q,
    onchange: () => { location.hash = hashWith("/issues", { status: sel.value, q: input.value }); } });
  const box = h("div", {}, h("p", { class: "empty" }, "loading…"));
  show(h("h1", {}, "Issues"), h("div", { class: "filters" }, sel, input, rangePicker("/issues", params)), h("div", { class: "card" }, box));
  let last = "";
  async function load() {
    if (!range.to) range.from = parseRange(params).from;
    const items = await issuesInRange(status, q);
    const text = JSON.stringify(items);
    if (text === last) return;
    last = text;
    const where = range.key === "custom" ? `range ${range.label}` : range.label;
    fill(box, items.length === 0 ? h("p", { class: "empty" }, `No ${status === "all" ? "" : `${status} `}issues${q ? ` matching "${q}"` : ""} seen in the ${where}.`)
      : [q ? h("p", { class: "muted" }, `${items.length} issue(s) whose code, title or message holds "${q}"`) : null,
        issuesTable(items, async (x) => { await api(`/api/pipeline/issues/${x.id}/resolve`, { method: "POST", body: {} }); load(); })]);
  }
  await load();
  // the issues stream says when something changed; the list is re-read
  stopLive = live("/api/pipeline/issues/stream", null, () => load().catch(() => {}));
  const timer = setInterval(() => load().catch(() => {}), 5000);
  const stopStream = stopLive;
  stopLive = () => { stopStream(); clearInterval(timer); };
}

// An issue (GET /api/pipeline/issues/{id}): its error, counts, when, the
// trend of the sessions it affected over the range, and those sessions.
async function issueView(id, params) {
  let x;
  try {
    x = (await api(`/api/pipeline/issues/${encodeURIComponent(id)}`)).body;
  } catch (e) {
    if (e.status !== 404) throw e;
    show(h("h1", {}, "No such issue"), h("div", { class: "card" }, h("p", {}, `No issue "${id}" is stored on this server.`), h("p", {}, h("a", { href: hashWith("/issues", {}) }, "← All issues"))));
    return;
  }
  const se = x.sample_event || {}, err = se.error || {};
  const interval = intervalOf(range);
  // the issue's own series: every affected session once, in the bucket of
  // its latest failure of this kind, exact however many there are
  const ts = (await api(`/api/pipeline/issues/${encodeURIComponent(id)}/timeseries?interval=${interval}&${rangeArgs()}`)).body;
  const buckets = ts.buckets.map((b) => ({ start: b.start, n: b.sessions }));
  const trend = chartCard(`Sessions affected per ${interval}`, (w) => countChart(buckets, interval, w, "sessions affected"),
    h("p", { class: "muted small" }, `Each affected session in the bucket of its latest failure of this kind: ${ts.total} in the ${range.key === "custom" ? `range ${range.label}` : range.label}.`));
  const item = (label, ...v) => [h("dt", {}, label), h("dd", {}, ...v)];
  async function resolve() {
    await api(`/api/pipeline/issues/${encodeURIComponent(x.id)}/resolve`, { method: "POST", body: {} });
    route();
  }
  show(
    h("p", {}, h("a", { href: hashWith("/issues", {}) }, "← Issues")),
    h("h1", { class: "issue-title" }, name(x.title), " ", badge(x.status)),
    h("div", { class: "filters" }, rangePicker(`/issue/${encodeURIComponent(x.id)}`, params)),
    h("div", { class: "card" },
      h("p", { class: "issue-msg big" }, err.message || "(no message)"),
      h("dl", { class: "facts" },
        item("Error code", h("span", { class: "mono" }, x.code)),
        item("Pipeline · step", x.pipeline_type, " · ", name(x.step)),
        item("Failures", h("span", { class: "count" }, x.count)),
        item("Sessions affected", x.sessions_affected),
        item("First seen", date(x.first_seen)),
        item("Last seen", date(x.last_seen)),
        x.reopened ? item("Reopened", `${x.reopened} time(s)`) : null,
        x.resolved_at ? item("Resolved", date(x.resolved_at)) : null),
      x.status === "open" ? h("p", {}, h("button", { class: "plain", onclick: resolve }, "Resolve")) : null),
    trend.card,
    h("h2", {}, "Latest failure"),
    h("div", { class: "card" },
      se.session_id ? h("p", {}, "In session ", h("a", { href: `#/session/${encodeURIComponent(se.session_id)}` }, se.session_id), ` (event seq ${se.seq}, `, date(se.ts), ")") : null,
      se.redacted ? h("p", {}, badge("redacted", "payload redacted")) : null,
      json(se.redacted ? { error: se.error } : { input: se.input, output: se.output, error: se.error })),
    h("h2", {}, `Sessions (${x.sessions.length}${x.sessions.length < x.sessions_affected ? ` of ${x.sessions_affected}` : ""})`),
    h("div", { class: "card" }, x.sessions.length === 0 ? h("p", { class: "empty" }, "No sessions listed.") : h("table", { class: "issue-sessions" },
      h("thead", {}, h("tr", {}, h("th", {}, "Session"), h("th", {}, "First seen"), h("th", { class: "hide-narrow" }, "Last seen"))),
      h("tbody", {}, x.sessions.map((s) => h("tr", {},
        h("td", {}, h("a", { href: `#/session/${encodeURIComponent(s.session_id)}` }, s.session_id)),
        h("td", { class: "muted" }, date(s.first_seen)), h("td", { class: "muted hide-narrow" }, date(s.last_seen))))))));
  trend.draw();
  const onResize = () => trend.draw();
  window.addEventListener("resize", onResize);
  stopLive = () => window.removeEventListener("resize", onResize);
  liveLabel.textContent = "as of now";
}

// fits `make(width)` (an SVG of that many px) into a card, drawn again when
// the window's width changes
function chartCard(title, make, ...after) {
  const box = h("div", { class: "chart-box" });
  const card = h("div", { class: "card" }, h("h2", {}, title), box, ...after);
  const draw = () => { box.replaceChildren(); fill(box, make(Math.max(260, Math.floor(box.clientWidth)))); };
  return { card, draw };
}

async function funnelView(params) {
  const defs = await definitions();
  const type = params.get("pipeline_type") || (defs[0] && defs[0].type);
  const sel = h("select", { "aria-label": "pipeline type", onchange: () => { location.hash = hashWith("/pipelines", { pipeline_type: sel.value }); } },
    defs.map((p) => h("option", { value: p.type, selected: p.type === type }, p.type)));
  const out = h("div", {}, h("p", { class: "empty" }, "loading…"));
  show(h("h1", {}, "Pipelines"), h("div", { class: "filters" }, sel, rangePicker("/pipelines", params)), out);
  const interval = intervalOf(range), t = encodeURIComponent(type);
  const [s, ts] = (await Promise.all([api(`/api/pipeline/stats?pipeline_type=${t}&${rangeArgs()}`),
    api(`/api/pipeline/timeseries?pipeline_type=${t}&interval=${interval}&${rangeArgs()}`)])).map((r) => r.body);
  const top = Math.max(1, s.sessions);
  const per = { minute: "minute", hour: "hour", day: "day" }[interval];
  const charts = [
    chartCard(`Sessions started per ${per}`, (w) => volumeChart(ts.buckets, interval, w),
      legend(["c-ok", "completed"], ["c-bad", "failed"], ["c-open", "still open (in progress or stalled)"]),
      h("p", { class: "muted small" }, "Each session counts in the bucket it started in, with its state now.")),
    chartCard(`Failure rate per ${per}`, (w) => rateChart(ts.buckets, interval, w),
      h("p", { class: "muted small" }, "Failed sessions of those started in the bucket; buckets without sessions have no point.")),
    chartCard("Step durations", (w) => durationChart(s.steps, w), legend(["c-p50", "p50 (median)"], ["c-p95", "p95"])),
  ];
  fill(out,
    h("p", { class: "muted" }, `${type}, sessions started in the ${range.key === "custom" ? `range ${range.label}` : range.label}`),
    h("div", { class: "kpis" },
      h("div", { class: "card" }, h("div", { class: "kpi" }, s.sessions), h("div", { class: "muted" }, "sessions")),
      h("div", { class: "card" }, h("div", { class: "kpi" }, `${Math.round(s.completion_rate * 100)}%`), h("div", { class: "muted" }, "completed")),
      h("div", { class: "card" }, h("div", { class: "kpi" }, s.failed), h("div", { class: "muted" }, "failed")),
      h("div", { class: "card" }, h("div", { class: "kpi" }, dur(s.duration_ms.p50)), h("div", { class: "muted" }, `median duration (p95 ${dur(s.duration_ms.p95)})`))),
    charts.map((c) => c.card),
    h("h2", {}, "Funnel"),
    h("div", { class: "card" }, h("table", { class: "funnel" },
      h("thead", {}, h("tr", {}, h("th", {}, "Step"), h("th", { class: "num" }, "Reached"), h("th", { class: "hide-narrow" }, ""), h("th", { class: "num" }, "Succeeded"), h("th", { class: "num" }, "Failed"))),
      h("tbody", {}, s.steps.map((st) => h("tr", {},
        h("td", {}, name(st.step), st.optional ? h("span", { class: "muted" }, " (optional)") : null),
        h("td", { class: "num" }, st.reached),
        h("td", { class: "hide-narrow", style: "width:40%" }, h("div", { class: "funnel-bar", style: `width:${(st.reached / top) * 100}%`, title: `${st.reached} reached` }),
          st.failed ? h("div", { class: "funnel-bar fail", style: `width:${(st.failed / top) * 100}%;margin-top:2px`, title: `${st.failed} failed` }) : null),
        h("td", { class: "num" }, st.succeeded), h("td", { class: "num" }, st.failed)))))));
  for (const c of charts) c.draw();
  let timer = 0;
  const onResize = () => { clearTimeout(timer); timer = setTimeout(() => charts.forEach((c) => c.draw()), 150); };
  window.addEventListener("resize", onResize);
  stopLive = () => window.removeEventListener("resize", onResize);
  liveLabel.textContent = range.to ? "a past range" : "as of now";
}

// Search: an exact session id opens the session; otherwise the sessions
// whose id starts with the text (the server's search by id prefix, over
// every stored session) and the issues whose error code,
// title or message holds it.
async function searchView(params) {
  const q = (params.get("q") || "").trim();
  document.getElementById("search-input").value = q;
  if (!q) { show(h("h1", {}, "Search"), h("p", { class: "empty" }, "Type a session id, an error code or words of an error message above.")); return; }
  const out = h("div", {}, h("p", { class: "empty" }, "searching…"));
  show(h("h1", {}, `Search “${q}”`), h("div", { class: "filters" }, rangePicker("/search", params)), out);
  let exact = null;
  try {
    exact = await api(`/api/pipeline/status?session_id=${encodeURIComponent(q)}&events_limit=1&history_limit=1`);
  } catch (e) {
    if (e.status !== 404 && e.status !== 400) throw e; // 400: not a valid session id
  }
  if (exact) { location.replace(`#/session/${encodeURIComponent(q)}`); return; }
  // sessions by id prefix: the server's search, over every stored session
  // (whatever the range); text that cannot start an id finds none
  const byId = /^[A-Za-z0-9_.:-]{1,128}$/.test(q)
    ? api(`/api/pipeline/sessions?id_prefix=${encodeURIComponent(q)}&limit=50`).then((r) => ({ items: r.body.items, next: r.body.next_cursor }))
    : Promise.resolve({ items: [], next: null });
  const [ss, issues] = await Promise.all([byId, issuesInRange("all", q)]);
  const where = range.key === "custom" ? `range ${range.label}` : range.label;
  fill(out,
    h("p", { class: "no-session" }, `No session has the id “${q}”.`),
    h("h2", {}, `Sessions whose id starts with “${q}” (${ss.items.length}${ss.next ? "+" : ""})`),
    h("p", { class: "muted small" }, "Every stored session, in id order", ss.next ? "; the first 50 shown: type more of the id to narrow it" : "", "."),
    h("div", { class: "card" }, ss.items.length ? sessionsTable(ss.items) : h("p", { class: "empty" }, "None.")),
    h("h2", {}, `Issues whose error code, title or message holds “${q}” (${issues.length})`),
    h("div", { class: "card" }, issues.length ? issuesTable(issues, null) : h("p", { class: "empty" }, `None seen in the ${where}.`)));
  liveLabel.textContent = "as of now";
}

document.getElementById("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = document.getElementById("search-input").value.trim();
  location.hash = hashWith("/search", q ? { q } : {});
});

// ---- routing -----------------------------------------------------------------------

async function route() {
  stopLive();
  stopLive = () => {};
  const hash = location.hash || "#/sessions";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  range = parseRange(params);
  if (parts[0] !== "search") document.getElementById("search-input").value = "";
  const section = { session: "sessions", issue: "issues", funnel: "pipelines" }[parts[0]] || parts[0] || "sessions";
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("on", a.dataset.nav === section);
    a.setAttribute("href", `#/${a.dataset.nav}?${range.query}`); // the range goes along
  }
  try {
    if (parts[0] === "session" && parts[1]) await sessionView(decodeURIComponent(parts[1]));
    else if (parts[0] === "issues") await issuesView(params);
    else if (parts[0] === "search") await searchView(params);
    else if (parts[0] === "issue" && parts[1]) await issueView(decodeURIComponent(parts[1]), params);
    else if (parts[0] === "pipelines" || parts[0] === "funnel") await funnelView(params);
    else await sessionsView(params);
  } catch (e) {
    show(h("h1", {}, "Something went wrong"), h("p", { class: "error" }, e.message));
  }
}

window.addEventListener("hashchange", route);
route();
