// track.test.mjs - createClient against a real pipetrackd: track and batch
// (stored events, the answer's shape, ids made by the client, replays),
// typed errors, no retry on 4xx, 429 with Retry-After honoured, tracedStep.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient, PipetrackError, backoffDelay, parseRetryAfter } from "../src/index.js";
import { startServer, recordingFetch, http, ev } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

const HEX64 = /^[0-9a-f]{64}$/;

test("track stores the event with an id made by the client, and a retry of it is a replay", async () => {
  const client = createClient({ url: server.url });
  const a = await client.track(ev("t_one", "checkout_started", "success", { input: { cart_total: 42.5 } }), { autoSnapshot: true });
  assert.match(a.event.id, /^evt_[0-9a-f-]{36}$/);
  assert.equal(a.event.session_id, "t_one");
  assert.equal(a.event.seq, 0);
  assert.deepEqual(a.event.input, { cart_total: 42.5 });
  assert.match(a.event.link, HEX64);
  assert.match(a.event.input_sha256, HEX64);
  assert.equal(a.replayed, false);
  assert.equal(a.receipt, null);
  assert.equal(a.snapshot.event_count, 1);
  assert.match(a.snapshot.chain_hash, HEX64);
  // the same event again: the server's idempotent replay, not a second event
  const again = await client.track({ ...ev("t_one", "checkout_started", "success", { input: { cart_total: 42.5 } }), id: a.event.id });
  assert.equal(again.replayed, true);
  assert.equal(again.event.seq, 0);
  assert.equal(again.event.link, a.event.link);
  const st = await client.status("t_one");
  assert.equal(st.data.event_count, 1);
});

test("trackBatch answers one result per event, stored ones and refused ones, in order", async () => {
  const client = createClient({ url: server.url });
  const { results } = await client.trackBatch([
    ev("t_batch", "checkout_started", "success"),
    ev("t_batch", "no_such_step", "success"),
    ev("t_batch", "payment_initiated", "started", { id: "evt_fixed_1" }),
  ]);
  assert.equal(results.length, 3);
  assert.equal(results[0].status, 201);
  assert.equal(results[0].event.seq, 0);
  assert.match(results[0].event.id, /^evt_/);
  assert.equal(results[1].status, 422);
  assert.equal(results[1].error.code, "unknown_step");
  assert.equal(results[1].error.field, "events[1].step");
  assert.equal(results[2].status, 201);
  assert.equal(results[2].event.id, "evt_fixed_1");
  assert.equal(results[2].event.seq, 1);
  assert.equal(results[2].event.link.length, 64);
  const st = await client.status("t_batch");
  assert.equal(st.data.event_count, 2);
});

test("a refused event is a PipetrackError with the server's status, code, field and message, and is not retried", async () => {
  const f = recordingFetch();
  const client = createClient({ url: server.url, fetch: f, retry: { retries: 5, minDelayMs: 10, maxDelayMs: 50 } });
  await assert.rejects(client.track(ev("t_bad", "checkout_started", "finished")), (e) => {
    assert.ok(e instanceof PipetrackError);
    assert.ok(e instanceof Error);
    assert.equal(e.status, 400);
    assert.equal(e.code, "invalid_request");
    assert.equal(e.field, "event.status");
    assert.match(e.message, /^event\.status: must be one of started, success, failure/);
    assert.equal(e.retryable, false);
    return true;
  });
  assert.equal(f.calls.length, 1);
  // another pipeline type for the session: 409 session_conflict, once
  await client.track(ev("t_bad2", "checkout_started", "success"));
  await assert.rejects(client.track({ session_id: "t_bad2", pipeline_type: "signup", step: "account_created", status: "success" }), (e) => e.status === 409 && e.code === "session_conflict" && e.field === "event.pipeline_type");
  assert.equal(f.calls.length, 3);
});

test("an unknown session is a 404 not_found read", async () => {
  const client = createClient({ url: server.url });
  await assert.rejects(client.status("t_nobody"), (e) => e instanceof PipetrackError && e.status === 404 && e.code === "not_found");
});

test("tracedStep: started then success with {duration_ms, result}; the value comes back unchanged (async and sync)", async () => {
  const client = createClient({ url: server.url });
  const s = { sessionId: "t_traced_ok", pipelineType: "checkout_digital" };
  const value = { charge: "ch_1", amount: 42.5 };
  const got = await client.tracedStep(s, "checkout_started", async () => {
    await new Promise((r) => setTimeout(r, 30));
    return value;
  });
  assert.equal(got, value); // the very object
  const bound = client.session("t_traced_ok", "checkout_digital");
  const sync = await bound.tracedStep("payment_initiated", () => 7);
  assert.equal(sync, 7);
  const { data } = await client.status("t_traced_ok");
  const evs = data.events;
  assert.deepEqual(evs.map((e) => [e.step, e.status]), [
    ["checkout_started", "started"],
    ["checkout_started", "success"],
    ["payment_initiated", "started"],
    ["payment_initiated", "success"],
  ]);
  assert.deepEqual(evs[1].output.result, { charge: "ch_1", amount: 42.5 });
  assert.ok(evs[1].output.duration_ms >= 25 && evs[1].output.duration_ms < 5000, `duration_ms ${evs[1].output.duration_ms}`);
  assert.equal(evs[3].output.result, 7);
  assert.equal(evs[1].error, null);
});

test("tracedStep: failure with the thrown error's code and message, rethrown unchanged (async and sync)", async () => {
  const client = createClient({ url: server.url });
  const bound = client.session("t_traced_fail", "checkout_digital");
  await bound.track("checkout_started", "success");
  class CardDeclined extends Error {
    constructor() {
      super("card declined by issuer");
      this.code = "card_declined";
    }
  }
  const thrown = new CardDeclined();
  await assert.rejects(
    bound.tracedStep("payment_initiated", async () => {
      throw thrown;
    }),
    (e) => e === thrown,
  );
  const plain = new TypeError("amount is not a number");
  await assert.rejects(
    client.tracedStep({ sessionId: "t_traced_fail2", pipelineType: "checkout_digital" }, "checkout_started", () => {
      throw plain;
    }),
    (e) => e === plain,
  );
  const a = (await client.status("t_traced_fail")).data;
  assert.deepEqual(a.events.map((e) => [e.step, e.status]), [
    ["checkout_started", "success"],
    ["payment_initiated", "started"],
    ["payment_initiated", "failure"],
  ]);
  assert.deepEqual(a.events[2].error, { code: "card_declined", message: "card declined by issuer" });
  assert.equal(typeof a.events[2].output.duration_ms, "number");
  assert.equal(a.checksum.state, "failed");
  assert.equal(a.terminal, true);
  const b = (await client.status("t_traced_fail2")).data;
  assert.deepEqual(b.events[1].error, { code: "TypeError", message: "amount is not a number" });
});

test("tracedStep runs and returns even when the server cannot be reached; the tracking error goes to onError", async () => {
  const errors = [];
  const client = createClient({ url: "http://127.0.0.1:9", retry: false, onError: (e) => errors.push(e) });
  const got = await client.tracedStep({ sessionId: "t_down", pipelineType: "checkout_digital" }, "checkout_started", () => "ran");
  assert.equal(got, "ran");
  assert.equal(errors.length, 2);
  assert.equal(errors[0].code, "network_error");
  assert.equal(errors[0].status, 0);
});

test("429 with --rate-limit: Retry-After is honoured, then the event is stored once", async () => {
  const limited = await startServer({ args: ["--rate-limit", "1", "--rate-burst", "1"] });
  try {
    const f = recordingFetch();
    const client = createClient({ url: limited.url, fetch: f, retry: { retries: 4, minDelayMs: 10, maxDelayMs: 20 } });
    const first = await client.track(ev("t_rl", "checkout_started", "success"));
    assert.equal(first.event.seq, 0);
    const t0 = Date.now();
    const second = await client.track(ev("t_rl", "payment_initiated", "started"));
    const waited = Date.now() - t0;
    assert.equal(second.event.seq, 1);
    const statuses = f.calls.map((c) => c.status);
    assert.equal(statuses[0], 201);
    assert.equal(statuses[1], 429);
    assert.equal(statuses.at(-1), 201);
    // the backoff alone would be 10-20 ms; Retry-After asked for at least a second
    assert.ok(waited >= 900, `waited ${waited} ms`);
    assert.ok(waited < 10000, `waited ${waited} ms`);
    // the same id each time: one event, not two
    const ids = new Set(f.calls.slice(1).map((c) => JSON.parse(c.body).event.id));
    assert.equal(ids.size, 1);
    const raw = await http(`${limited.url}/api/pipeline/track`, { method: "POST", headers: { "content-type": "application/json" }, body: { event: ev("t_rl", "payment_initiated", "success") } });
    if (raw.status === 429) {
      assert.equal(raw.json.error.code, "rate_limited");
      assert.ok(Number(raw.headers.get("retry-after")) >= 1);
    }
    await new Promise((r) => setTimeout(r, 1100));
    const st = await createClient({ url: limited.url }).status("t_rl");
    assert.equal(st.data.event_count, raw.status === 429 ? 2 : 3);
  } finally {
    await limited.stop();
  }
});

test("a 429 that lasts past the retries is a rate_limited PipetrackError", async () => {
  const limited = await startServer({ args: ["--rate-limit", "1", "--rate-burst", "1"] });
  try {
    const client = createClient({ url: limited.url, retry: false });
    await client.track(ev("t_rl2", "checkout_started", "success"));
    await assert.rejects(client.track(ev("t_rl2", "payment_initiated", "started")), (e) => {
      assert.equal(e.status, 429);
      assert.equal(e.code, "rate_limited");
      assert.ok(e.retryAfterMs >= 1000);
      assert.equal(e.retryable, true);
      return true;
    });
  } finally {
    await limited.stop();
  }
});

test("backoff: full jitter under an exponential cap, at least Retry-After", () => {
  const p = { retries: 5, minDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffDelay(0, p, null, () => 0.999999), 99.9999);
  assert.equal(backoffDelay(3, p, null, () => 0.5), 400);
  assert.equal(backoffDelay(10, p, null, () => 1), 1000);
  assert.equal(backoffDelay(0, p, 2000, () => 0.5), 2000);
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 5000).toUTCString()) > 3000, true);
  assert.equal(parseRetryAfter(null), null);
});
