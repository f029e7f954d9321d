// react.test.mjs - the hooks with the real react, react-dom and swr in
// jsdom, against a real pipetrackd: polling sends If-None-Match, a 304 keeps
// the very same data object, the next poll waits poll_after_ms, polling stops
// at terminal; the stream hook on a Node EventSource (the eventsource
// package) and its fallback to polling when EventSource is missing or fails.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { JSDOM } from "jsdom";
import { EventSource } from "eventsource";
import { createClient } from "../src/index.js";
import { ev, recordingFetch, sleep, startServer } from "./helpers.mjs";

const dom = new JSDOM('<!doctype html><html><body><div id="root"></div></body></html>', { url: "http://localhost/", pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
// Node 20 has no navigator (21 does): jsdom's, for react-dom
if (!globalThis.navigator) globalThis.navigator = dom.window.navigator;
// real timers drive SWR's polling here; React's act() warnings are not wanted
globalThis.IS_REACT_ACT_ENVIRONMENT = false;

const React = await import("react");
const { createRoot } = await import("react-dom/client");
const { usePipelineStatus, usePipelineStream, nextPollMs } = await import("../src/react.js");

let server;
let client;
before(async () => {
  server = await startServer();
  client = createClient({ url: server.url });
});
after(async () => {
  await server.stop();
});

/** Renders a probe component that records every result the hook returns. */
function mount(hook, sessionId, options) {
  const renders = [];
  function Probe() {
    const r = hook(sessionId, options);
    renders.push(r);
    return React.createElement("pre", null, r.data ? `${r.data.event_count} ${r.data.checksum.state}` : "loading");
  }
  const el = document.createElement("div");
  document.body.appendChild(el);
  const root = createRoot(el);
  root.render(React.createElement(Probe));
  return {
    renders,
    el,
    last: () => renders[renders.length - 1] ?? {},
    unmount: () => root.unmount(),
  };
}

async function waitFor(what, pred, ms = 8000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = pred();
    if (v) return v;
    await sleep(20);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

const finish = ["payment_initiated", "payment_confirmed", "checkout_completed"];

test("nextPollMs: the server's hint, 0 once terminal", () => {
  assert.equal(nextPollMs(undefined), 2000);
  assert.equal(nextPollMs({ terminal: false, poll_after_ms: 10000 }), 10000);
  assert.equal(nextPollMs({ terminal: true, poll_after_ms: 60000 }), 0);
});

test("usePipelineStatus: If-None-Match, a 304 keeps the data object, poll_after_ms between polls, stops at terminal", async () => {
  await client.track(ev("r_poll", "checkout_started", "success"));
  const f = recordingFetch();
  const m = mount(usePipelineStatus, "r_poll", { url: server.url, fetch: f });
  try {
    await waitFor("the first status", () => m.last().data);
    const first = m.last().data;
    assert.equal(first.event_count, 1);
    assert.equal(first.terminal, false);
    assert.equal(first.poll_after_ms, 2000);
    assert.equal(m.last().transport, "polling");
    assert.equal(m.el.textContent, "1 in_progress");
    assert.equal(f.calls[0].headers["If-None-Match"], undefined);

    // the next poll: conditional, answered 304, the data object kept
    await waitFor("a second poll", () => f.calls.length >= 2 && f.calls[1].status !== null, 6000);
    assert.equal(f.calls[1].status, 304);
    assert.match(f.calls[1].headers["If-None-Match"], /^"[0-9a-f]{32}"$/);
    const gap = f.calls[1].at - f.calls[0].at;
    assert.ok(gap >= 1900 && gap < 8000, `polled again after ${gap} ms (poll_after_ms 2000)`);
    await sleep(50);
    assert.equal(m.last().data, first, "the very same object after a 304");

    // the session completes: the next poll sees it, and polling stops
    for (const s of finish) await client.track(ev("r_poll", s, "success"));
    await waitFor("terminal", () => m.last().terminal, 6000);
    const done = m.last().data;
    assert.equal(done.event_count, 4);
    assert.equal(done.checksum.state, "completed");
    assert.notEqual(done, first);
    const n = f.calls.length;
    const lastTag = f.calls[n - 1].headers["If-None-Match"];
    assert.equal(lastTag, f.calls[1].headers["If-None-Match"], "the poll that saw the change still sent the old ETag");
    await sleep(2600);
    assert.equal(f.calls.length, n, "no poll after terminal");
    assert.equal(m.el.textContent, "4 completed");
  } finally {
    m.unmount();
  }
});

test("usePipelineStatus: an unknown session is a not_found error, not retried", async () => {
  const f = recordingFetch();
  const m = mount(usePipelineStatus, "r_nobody", { url: server.url, fetch: f });
  try {
    await waitFor("the error", () => m.last().error);
    assert.equal(m.last().error.code, "not_found");
    assert.equal(m.last().error.status, 404);
    await sleep(300);
    assert.equal(f.calls.length, 1);
  } finally {
    m.unmount();
  }
});

test("usePipelineStream: live updates over EventSource until terminal, no polling", async () => {
  await client.track(ev("r_stream", "checkout_started", "success"));
  const f = recordingFetch();
  const opened = [];
  class CountingES extends EventSource {
    constructor(url, init) {
      super(url, init);
      opened.push(this);
    }
  }
  const m = mount(usePipelineStream, "r_stream", { url: server.url, fetch: f, EventSource: CountingES });
  try {
    await waitFor("the first status", () => m.last().data);
    assert.equal(m.last().transport, "stream");
    assert.equal(m.last().data.event_count, 1);
    const t0 = Date.now();
    await client.track(ev("r_stream", "payment_initiated", "success"));
    await waitFor("the second event", () => m.last().data && m.last().data.event_count === 2, 3000);
    assert.ok(Date.now() - t0 < 5000, `pushed after ${Date.now() - t0} ms`);
    for (const s of finish.slice(1)) await client.track(ev("r_stream", s, "success"));
    await waitFor("terminal", () => m.last().terminal, 3000);
    assert.equal(m.last().data.checksum.state, "completed");
    assert.equal(opened.length, 1);
    assert.equal(opened[0].readyState, 2, "closed at terminal");
    assert.equal(f.calls.length, 0, "nothing polled");
  } finally {
    m.unmount();
  }
});

test("usePipelineStream falls back to polling without EventSource", async () => {
  await client.track(ev("r_noes", "checkout_started", "success"));
  const f = recordingFetch();
  const m = mount(usePipelineStream, "r_noes", { url: server.url, fetch: f, EventSource: null });
  try {
    await waitFor("the status", () => m.last().data);
    assert.equal(m.last().transport, "polling");
    assert.equal(m.last().data.event_count, 1);
    assert.ok(f.calls.length >= 1);
    assert.match(f.calls[0].url, /\/api\/pipeline\/status\?session_id=r_noes$/);
  } finally {
    m.unmount();
  }
});

test("usePipelineStream falls back to polling when the stream fails", async () => {
  await client.track(ev("r_esfail", "checkout_started", "success"));
  // an EventSource that the browser gave up on (closed, as after a refused connection)
  class FailingES extends EventTarget {
    constructor(url) {
      super();
      this.url = url;
      this.readyState = 0;
      setTimeout(() => {
        this.readyState = 2;
        this.dispatchEvent(new Event("error"));
      }, 30);
    }
    close() {
      this.readyState = 2;
    }
  }
  const f = recordingFetch();
  const m = mount(usePipelineStream, "r_esfail", { url: server.url, fetch: f, EventSource: FailingES });
  try {
    await waitFor("the polled status", () => m.last().data && m.last().transport === "polling");
    assert.equal(m.last().data.event_count, 1);
    assert.equal(m.last().streamError.code, "stream_failed");
    assert.ok(f.calls.length >= 1);

    // a real stream refused by the server (unknown session: 404 before the stream starts)
    const f2 = recordingFetch();
    const m2 = mount(usePipelineStream, "r_nobody_stream", { url: server.url, fetch: f2, EventSource });
    try {
      await waitFor("the fallback's error", () => m2.last().transport === "polling" && m2.last().error, 6000);
      assert.equal(m2.last().error.code, "not_found");
      assert.equal(f2.calls.length, 1);
    } finally {
      m2.unmount();
    }
  } finally {
    m.unmount();
  }
});
