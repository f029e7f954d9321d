// page.test.mjs - a page going away: on pagehide (and visibilitychange to
// hidden) the queue goes out with fetch keepalive, or as sendBeacon's
// text/plain JSON, which pipetrackd accepts on the track routes; beaconed
// events stay unconfirmed until a later flush hears them answered (as
// replays: nothing doubled).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { JSDOM } from "jsdom";
import { createClient } from "../src/index.js";
import { ev, http, recordingFetch, sleep, startServer } from "./helpers.mjs";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { url: "http://localhost/", pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

/** Runs fn with globalThis.navigator replaced (Node 21+ has one, as a getter). */
async function withNavigator(nav, fn) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  Object.defineProperty(globalThis, "navigator", { value: nav, configurable: true, writable: true });
  try {
    return await fn();
  } finally {
    if (saved) Object.defineProperty(globalThis, "navigator", saved);
    else delete globalThis.navigator;
  }
}

async function count(sid) {
  const r = await http(`${server.url}/api/pipeline/status?session_id=${sid}`);
  return r.status === 200 ? r.json.event_count : 0;
}

test("POST /track and /track/batch accept text/plain JSON (what sendBeacon sends)", async () => {
  const one = await http(`${server.url}/api/pipeline/track`, { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body: { event: ev("p_plain", "checkout_started", "success") } });
  assert.equal(one.status, 201, one.text);
  const batch = await http(`${server.url}/api/pipeline/track/batch`, { method: "POST", headers: { "content-type": "text/plain" }, body: { events: [ev("p_plain", "payment_initiated", "started")] } });
  assert.equal(batch.status, 200, batch.text);
  assert.equal(batch.json.results[0].status, 201);
  // still parsed strictly: a duplicate member is refused
  const dup = await http(`${server.url}/api/pipeline/track`, { method: "POST", headers: { "content-type": "text/plain" }, body: '{"event": {"session_id": "p_plain", "session_id": "x"}}' });
  assert.equal(dup.status, 400);
  assert.equal(dup.json.error.code, "invalid_json");
  assert.equal(await count("p_plain"), 2);
});

test("pagehide sends the queue with fetch keepalive, and the promises settle with the answers", async () => {
  const f = recordingFetch();
  const client = createClient({ url: server.url, fetch: f, autoFlush: { maxEvents: 100, maxDelayMs: 60000 } });
  const ps = ["checkout_started", "payment_initiated"].map((s) => client.track(ev("p_hide", s, "success")));
  assert.equal(f.calls.length, 0);
  window.dispatchEvent(new window.Event("pagehide"));
  const answers = await Promise.all(ps);
  assert.equal(f.calls.length, 1);
  assert.equal(f.calls[0].keepalive, true);
  assert.equal(f.calls[0].headers["Content-Type"], "application/json");
  assert.deepEqual(answers.map((a) => a.event.seq), [0, 1]);
  assert.equal(await count("p_hide"), 2);
  await client.close();
});

test("visibilitychange to hidden sends the queue too", async () => {
  const f = recordingFetch();
  const client = createClient({ url: server.url, fetch: f, autoFlush: { maxEvents: 100, maxDelayMs: 60000 } });
  const p = client.track(ev("p_vis", "checkout_started", "success"));
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new window.Event("visibilitychange"));
  assert.equal((await p).event.seq, 0);
  assert.equal(f.calls[0].keepalive, true);
  Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });
  await client.close();
});

test("sendBeacon with a text/plain body: stored once; if the page lives on, the next flush confirms them as replays", async () => {
  const beacons = [];
  const delivered = [];
  // a sendBeacon as a browser has it: a POST of the Blob, its type as Content-Type, no answer to the page
  const nav = {
    sendBeacon(url, blob) {
      beacons.push({ url, type: blob.type, size: blob.size });
      delivered.push(fetch(url, { method: "POST", body: blob }).then((r) => r.status));
      return true;
    },
  };
  await withNavigator(nav, async () => {
    const f = recordingFetch();
    const client = createClient({ url: server.url, fetch: f, autoFlush: { maxEvents: 100, maxDelayMs: 300 } });
    const steps = ["checkout_started", "payment_initiated", "payment_confirmed"];
    const ps = steps.map((s) => client.track(ev("p_beacon", s, "success", { input: { note: "x".repeat(100) } })));
    client.sendOnPageHide({ transport: "beacon" });
    assert.equal(beacons.length, 1);
    assert.equal(beacons[0].url, `${server.url}/api/pipeline/track/batch`);
    assert.equal(beacons[0].type, "text/plain;charset=utf-8");
    assert.deepEqual(await Promise.all(delivered), [200]);
    assert.equal(await count("p_beacon"), 3);
    assert.equal(f.calls.length, 0);
    // the page lives on: the queue's timer sends them again, answered as replays
    const answers = await Promise.all(ps);
    assert.deepEqual(answers.map((a) => [a.event.seq, a.replayed]), [
      [0, true],
      [1, true],
      [2, true],
    ]);
    assert.equal(await count("p_beacon"), 3);
    await client.close();
  });
});

test("a queue larger than one beacon goes out in bodies under 60 KiB", async () => {
  const bodies = [];
  const sends = [];
  const nav = {
    sendBeacon(url, blob) {
      bodies.push(blob.size);
      sends.push(fetch(url, { method: "POST", body: blob }).then((r) => r.status));
      return true;
    },
  };
  await withNavigator(nav, async () => {
    const f = recordingFetch();
    const client = createClient({ url: server.url, fetch: f, autoFlush: { maxEvents: 1000, maxDelayMs: 60000 } });
    const ps = [];
    for (let i = 0; i < 40; i++) ps.push(client.track(ev("p_big", "checkout_started", "started", { input: { blob: "y".repeat(4000), i } })));
    client.sendOnPageHide(); // auto: the first body by fetch keepalive, the rest by beacon (no key needed here)
    assert.equal(f.calls.length, 1);
    assert.equal(f.calls[0].keepalive, true);
    assert.ok(new TextEncoder().encode(f.calls[0].body).length < 60 * 1024);
    assert.ok(bodies.length >= 2, `${bodies.length} beacons`);
    for (const n of bodies) assert.ok(n < 60 * 1024, `a beacon of ${n} bytes`);
    assert.ok((await Promise.all(sends)).every((s) => s === 200));
    await sleep(50);
    await client.flush();
    const answers = await Promise.all(ps);
    assert.deepEqual(answers.map((a) => a.event.input.i), Array.from({ length: 40 }, (_, i) => i));
    // the bodies race each other: every seq once, in whatever order they arrived
    assert.deepEqual(answers.map((a) => a.event.seq).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i));
    assert.equal(await count("p_big"), 40);
    await client.close();
  });
});
