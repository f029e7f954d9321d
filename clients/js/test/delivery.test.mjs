// delivery.test.mjs - the queue loses nothing and doubles nothing: batches
// by size and time, answers lost on the way (a retry is a replay), a server
// stopped and restarted mid-queue on the same database, refused events
// returned, flush and close.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient, PipetrackError } from "../src/index.js";
import { startServer, recordingFetch, ev, sleep } from "./helpers.mjs";

const STEPS = ["checkout_started", "payment_initiated", "payment_confirmed"];

/** Every event of a session, read back through GET status (events_limit up to 1000). */
async function storedIds(url, sid) {
  const client = createClient({ url });
  const { data } = await client.status(sid, { eventsLimit: 1000 });
  return { count: data.event_count, ids: data.events.map((e) => e.id), seqs: data.events.map((e) => e.seq) };
}

test("the queue sends batches of maxEvents, and the rest after maxDelayMs", async () => {
  const server = await startServer();
  try {
    const f = recordingFetch();
    const client = createClient({ url: server.url, fetch: f, autoFlush: { maxEvents: 10, maxDelayMs: 100 } });
    const t0 = Date.now();
    const ps = [];
    for (let i = 0; i < 25; i++) ps.push(client.track(ev("q_sizes", STEPS[i % 3], "started", { input: { i } })));
    const answers = await Promise.all(ps);
    const took = Date.now() - t0;
    assert.deepEqual(f.calls.map((c) => [c.url.endsWith("/api/pipeline/track/batch"), JSON.parse(c.body).events.length]), [
      [true, 10],
      [true, 10],
      [true, 5],
    ]);
    assert.ok(took >= 90, `the last 5 waited for maxDelayMs (${took} ms)`);
    assert.deepEqual(answers.map((a) => a.event.seq), Array.from({ length: 25 }, (_, i) => i));
    assert.deepEqual(answers.map((a) => a.event.input.i), Array.from({ length: 25 }, (_, i) => i));
    assert.ok(answers.every((a) => a.replayed === false && a.event.id.startsWith("evt_")));
    await client.close();
    await assert.rejects(client.track(ev("q_sizes", "payment_initiated", "success")), /closed/);
  } finally {
    await server.stop();
  }
});

test("an answer lost on the way: the batch is sent again with the same ids and answered as replays", async () => {
  const server = await startServer();
  try {
    let dropped = 0;
    const f = recordingFetch(async (url, init) => {
      const res = await fetch(url, init);
      if (dropped === 0) {
        dropped++;
        await res.text();
        throw new TypeError("fetch failed (connection reset)");
      }
      return res;
    });
    const client = createClient({ url: server.url, fetch: f, retry: { retries: 3, minDelayMs: 10, maxDelayMs: 50 } });
    const { results } = await client.trackBatch(STEPS.map((s) => ev("q_lost", s, "success")));
    assert.equal(f.calls.length, 2);
    assert.equal(f.calls[0].body, f.calls[1].body); // the same events, the same ids
    assert.deepEqual(results.map((r) => [r.status, r.replayed]), [
      [200, true],
      [200, true],
      [200, true],
    ]);
    const s = await storedIds(server.url, "q_lost");
    assert.equal(s.count, 3);
    assert.deepEqual(s.ids, results.map((r) => r.event.id));
  } finally {
    await server.stop();
  }
});

test("a server stopped and restarted mid-queue on the same database: every event stored exactly once", async () => {
  let server = await startServer();
  const { dir, port } = server;
  const errors = [];
  const f = recordingFetch();
  const client = createClient({
    url: server.url,
    fetch: f,
    autoFlush: { maxEvents: 20, maxDelayMs: 20 },
    retry: { retries: 12, minDelayMs: 50, maxDelayMs: 400 },
    onError: (e) => errors.push(e),
  });
  const sessions = ["q_rs_a", "q_rs_b", "q_rs_c", "q_rs_d"];
  const sent = new Map(sessions.map((s) => [s, []]));
  const answers = [];
  try {
    const deadline = Date.now() + 20000;
    for (let wave = 0; wave < 10 && Date.now() < deadline; wave++) {
      for (let i = 0; i < 20; i++) {
        const sid = sessions[i % 4];
        const e = { ...ev(sid, STEPS[(wave + i) % 3], "started"), id: `evt_rs_${wave}_${i}`, input: { wave, i } };
        sent.get(sid).push(e.id);
        answers.push(client.track(e));
      }
      if (wave === 2) await server.kill(); // SIGKILL, batches possibly in flight
      if (wave === 5) await server.stop(); // SIGTERM: drained
      if (wave === 2 || wave === 5) await sleep(400); // down for a while: events pile up
      if (wave === 3 || wave === 6) server = await startServer({ dir, port });
      await sleep(60);
    }
    await client.flush();
    const settled = await Promise.all(answers);
    assert.equal(settled.length, 200);
    for (const a of settled) assert.ok(a.event && typeof a.event.seq === "number");
    const replays = settled.filter((a) => a.replayed).length;
    for (const sid of sessions) {
      const s = await storedIds(server.url, sid);
      assert.equal(s.count, 50, `${sid}: 50 events stored`);
      assert.deepEqual(s.seqs, Array.from({ length: 50 }, (_, i) => i), `${sid}: seqs without gaps`);
      assert.deepEqual([...s.ids].sort(), [...sent.get(sid)].sort(), `${sid}: each id once`);
      assert.equal(new Set(s.ids).size, 50);
    }
    assert.ok(errors.length === 0 || errors.every((e) => e instanceof PipetrackError && e.retryable), "only transport errors reported");
    assert.ok(f.calls.some((c) => c.status === null), "some requests found no server");
    // nothing doubled even where an answer was lost: a replay answers 200
    assert.ok(replays >= 0 && replays <= 200);
  } finally {
    await server.stop();
  }
});

test("refused events of a queued batch reject with their error; the others are stored", async () => {
  const server = await startServer();
  try {
    const reported = [];
    const client = createClient({ url: server.url, autoFlush: { maxEvents: 3, maxDelayMs: 1000 }, onError: (e, evs) => reported.push([e.code, evs.length]) });
    const good1 = client.track(ev("q_mixed", "checkout_started", "success"));
    const bad = client.track(ev("q_mixed", "not_a_step", "success"));
    const good2 = client.track(ev("q_mixed", "payment_initiated", "started"));
    assert.equal((await good1).event.seq, 0);
    await assert.rejects(bad, (e) => e instanceof PipetrackError && e.status === 422 && e.code === "unknown_step" && e.field === "events[1].step");
    assert.equal((await good2).event.seq, 1);
    assert.deepEqual(reported, [["unknown_step", 1]]);
    await client.flush(); // nothing left: resolves at once
    assert.equal(client.pending, 0);
  } finally {
    await server.stop();
  }
});

test("flush rejects while the server cannot be reached and keeps the events; the next flush delivers them", async () => {
  const server = await startServer();
  const { dir, port, url } = server;
  await server.stop();
  const client = createClient({ url, autoFlush: { maxEvents: 100, maxDelayMs: 60000 }, retry: { retries: 1, minDelayMs: 10, maxDelayMs: 20 } });
  const p = client.track(ev("q_later", "checkout_started", "success"));
  await assert.rejects(client.flush(), (e) => e instanceof PipetrackError && e.code === "network_error" && e.status === 0);
  assert.equal(client.pending, 1);
  const again = await startServer({ dir, port });
  try {
    await client.flush();
    assert.equal((await p).event.seq, 0);
    assert.equal(client.pending, 0);
    await client.close();
  } finally {
    await again.stop();
  }
  // closed while the server is gone: the waiting track() is rejected, not left pending
  const closing = createClient({ url, autoFlush: { maxEvents: 100, maxDelayMs: 60000 }, retry: false });
  const lost = closing.track(ev("q_closed", "checkout_started", "success"));
  await assert.rejects(closing.close(), (e) => e instanceof PipetrackError && e.code === "network_error");
  await assert.rejects(lost, (e) => e instanceof PipetrackError && e.code === "not_delivered" && e.status === 0);
  assert.equal(closing.pending, 0);
});

test("a 503 from the store (--test-store-fault-after) is retried with the same id: stored once", async () => {
  const server = await startServer({ args: ["--test-store-fault-after", "2"] });
  try {
    const f = recordingFetch();
    const client = createClient({ url: server.url, fetch: f, retry: { retries: 3, minDelayMs: 10, maxDelayMs: 50 } });
    const answers = [];
    for (const s of STEPS) answers.push(await client.track(ev("q_fault", s, "success")));
    const { results } = await client.trackBatch([ev("q_fault", "checkout_completed", "success")]);
    assert.deepEqual(answers.map((a) => a.event.seq), [0, 1, 2]);
    assert.equal(results[0].event.seq, 3);
    const statuses = f.calls.map((c) => c.status);
    assert.equal(statuses.filter((s) => s === 503).length, 1, `statuses ${statuses}`);
    const i = statuses.indexOf(503);
    assert.equal(f.calls[i + 1].body, f.calls[i].body, "sent again as it was, the same id");
    const s = await storedIds(server.url, "q_fault");
    assert.equal(s.count, 4);
    assert.equal(new Set(s.ids).size, 4);
  } finally {
    await server.stop();
  }
});
