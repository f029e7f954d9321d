// access.test.mjs - what a browser may do with the keys it can hold: the
// ingest key tracks, and the answer that creates a session hands out its
// read token; a page with only that token reads its own session (Bearer, or
// ?read_token= for EventSource) and is refused on any other session and
// route; server code mints read tokens with the API token. CORS lets the
// client's headers through and exposes ETag and Retry-After.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { EventSource } from "eventsource";
import { createClient, PipetrackError } from "../src/index.js";
import { ev, http, startServer } from "./helpers.mjs";

const INGEST = "ik_test_browser_key";
const API = "at_test_server_token";
const ORIGIN = "https://shop.example";
let server;
before(async () => {
  server = await startServer({ args: ["--ingest-key", INGEST, "--api-token", API, "--cors-origin", ORIGIN] });
});
after(async () => {
  await server.stop();
});

const READ_TOKEN = /^rt1\.(\d+)\.[A-Za-z0-9_-]+$/;
const refused403 = (e) => e instanceof PipetrackError && e.status === 403 && e.code === "forbidden";

test("the answer that creates a session carries its read token; later answers to the ingest key do not", async () => {
  const browser = createClient({ url: server.url, ingestKey: INGEST });
  const first = await browser.track(ev("a_own", "checkout_started", "success"));
  assert.equal(first.event.seq, 0);
  assert.match(first.read_token, READ_TOKEN);
  const expires = Number(READ_TOKEN.exec(first.read_token)[1]);
  const week = 7 * 24 * 3600 * 1000;
  assert.ok(Math.abs(expires - (Date.now() + week)) < 60000, `expires_at ${expires}: about 7 days from now`);
  assert.equal(browser.readTokenFor("a_own"), first.read_token);
  const second = await browser.track(ev("a_own", "payment_initiated", "started"));
  assert.equal(second.read_token, null);
  // a replay of the creating event hands one out again (its seq is 0), freshly made
  const replay = await browser.track({ ...ev("a_own", "checkout_started", "success"), id: first.event.id });
  assert.equal(replay.replayed, true);
  assert.match(replay.read_token, READ_TOKEN);
  assert.equal((await createClient({ url: server.url, readToken: replay.read_token }).status("a_own")).data.session_id, "a_own");
  // in a batch: the result that created its session
  const { results } = await browser.trackBatch([ev("a_own", "payment_initiated", "success"), ev("a_batch", "checkout_started", "started")]);
  assert.equal(results[0].read_token, null);
  assert.match(results[1].read_token, READ_TOKEN);
  assert.equal(browser.readTokenFor("a_batch"), results[1].read_token);
});

test("a client that posts into somebody else's session gains no read access to it", async () => {
  const owner = createClient({ url: server.url, ingestKey: INGEST });
  await owner.track(ev("a_victim", "checkout_started", "success"));
  const intruder = createClient({ url: server.url, ingestKey: INGEST });
  const a = await intruder.track(ev("a_victim", "payment_initiated", "started"));
  assert.equal(a.event.seq, 1);
  assert.equal(a.read_token, null);
  assert.equal(intruder.readTokenFor("a_victim"), null);
  // the client sends no credential it has none for: 401; the ingest key itself reads nothing: 403
  await assert.rejects(intruder.status("a_victim"), (e) => e instanceof PipetrackError && e.status === 401 && e.code === "unauthorized");
  const withKey = await http(`${server.url}/api/pipeline/status?session_id=a_victim`, { headers: { authorization: `Bearer ${INGEST}` } });
  assert.equal(withKey.status, 403);
  assert.equal(withKey.json.error.code, "forbidden");
});

test("a page with only the read token reads its session and nothing else", async () => {
  const browser = createClient({ url: server.url, ingestKey: INGEST });
  const mine = await browser.track(ev("a_page", "checkout_started", "success"));
  await browser.track(ev("a_other", "checkout_started", "success"));
  const page = createClient({ url: server.url, readToken: mine.read_token });

  const st = await page.status("a_page");
  assert.equal(st.status, 200);
  assert.equal(st.data.session_id, "a_page");
  assert.equal(st.data.event_count, 1);
  const again = await page.status("a_page", { etag: st.etag });
  assert.equal(again.status, 304);
  const report = await page.report("a_page");
  assert.equal(report.events.length, 1);

  // another session, other routes, tracking: 403
  await assert.rejects(page.status("a_other"), refused403);
  await assert.rejects(page.report("a_other"), refused403);
  for (const path of ["/api/pipeline/sessions", "/api/pipeline/verify?session_id=a_page", "/api/pipeline/checksum?session_id=a_page", "/api/pipeline/registry?session_id=a_page", "/api/pipeline/export?session_id=a_page"]) {
    const r = await http(server.url + path, { headers: { authorization: `Bearer ${mine.read_token}` } });
    assert.equal(r.status, 403, `${path}: ${r.text}`);
    assert.equal(r.json.error.code, "forbidden");
  }
  const tr = await http(`${server.url}/api/pipeline/track`, { method: "POST", headers: { authorization: `Bearer ${mine.read_token}`, "content-type": "application/json" }, body: { event: ev("a_page", "payment_initiated", "started") } });
  assert.equal(tr.status, 403, tr.text);

  // ?read_token= works where headers cannot go (EventSource)
  const q = await http(`${server.url}/api/pipeline/status?session_id=a_page&read_token=${encodeURIComponent(mine.read_token)}`);
  assert.equal(q.status, 200);
  const qo = await http(`${server.url}/api/pipeline/status?session_id=a_other&read_token=${encodeURIComponent(mine.read_token)}`);
  assert.equal(qo.status, 403);
  // a forged token: refused
  const forged = mine.read_token.slice(0, -4) + (mine.read_token.endsWith("AAAA") ? "BBBB" : "AAAA");
  await assert.rejects(createClient({ url: server.url, readToken: forged }).status("a_page"), (e) => e instanceof PipetrackError && (e.status === 401 || e.status === 403));
});

test("the status stream with ?read_token=: its own session streams, another is refused", async () => {
  const browser = createClient({ url: server.url, ingestKey: INGEST });
  const mine = await browser.track(ev("a_stream", "checkout_started", "success"));
  const got = await new Promise((resolve, reject) => {
    const es = new EventSource(`${server.url}/api/pipeline/status/stream?session_id=a_stream&read_token=${encodeURIComponent(mine.read_token)}`);
    const t = setTimeout(() => {
      es.close();
      reject(new Error("no status event in 5 s"));
    }, 5000);
    es.addEventListener("status", (m) => {
      clearTimeout(t);
      es.close();
      resolve(JSON.parse(m.data));
    });
  });
  assert.equal(got.session_id, "a_stream");
  assert.equal(got.event_count, 1);
  const other = await http(`${server.url}/api/pipeline/status/stream?session_id=a_victim&read_token=${encodeURIComponent(mine.read_token)}`);
  assert.equal(other.status, 403);
});

test("server code with the API token mints read tokens and gets one on every track answer", async () => {
  const backend = createClient({ url: server.url, token: API });
  const a = await backend.track(ev("a_backend", "checkout_started", "success"));
  const b = await backend.track(ev("a_backend", "payment_initiated", "started"));
  assert.match(a.read_token, READ_TOKEN);
  assert.match(b.read_token, READ_TOKEN);
  const minted = await backend.createReadToken("a_backend");
  assert.equal(minted.session_id, "a_backend");
  assert.match(minted.read_token, READ_TOKEN);
  assert.equal(typeof minted.expires_at, "number");
  assert.equal(Number(READ_TOKEN.exec(minted.read_token)[1]), minted.expires_at);
  const page = createClient({ url: server.url, readToken: minted.read_token });
  assert.equal((await page.status("a_backend")).data.event_count, 2);
  // the ingest key may not mint them
  await assert.rejects(createClient({ url: server.url, ingestKey: INGEST, token: null }).createReadToken("a_backend"), (e) => e.status === 401 || e.status === 403);
});

test("CORS: the client's headers are allowed, ETag and Retry-After exposed", async () => {
  const pre = await http(`${server.url}/api/pipeline/track`, {
    method: "OPTIONS",
    headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,traceparent,x-request-id" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), ORIGIN);
  const allowed = pre.headers.get("access-control-allow-headers").toLowerCase().split(/\s*,\s*/);
  for (const h of ["authorization", "content-type", "if-none-match", "last-event-id", "traceparent", "x-request-id"]) assert.ok(allowed.includes(h), `${h} in ${allowed}`);
  const browser = createClient({ url: server.url, ingestKey: INGEST });
  const a = await browser.track(ev("a_cors", "checkout_started", "success"));
  const get = await http(`${server.url}/api/pipeline/status?session_id=a_cors`, { headers: { origin: ORIGIN, authorization: `Bearer ${a.read_token}` } });
  assert.equal(get.status, 200);
  const exposed = get.headers.get("access-control-expose-headers").toLowerCase().split(/\s*,\s*/);
  assert.ok(exposed.includes("etag") && exposed.includes("retry-after"), `exposed: ${exposed}`);
});
