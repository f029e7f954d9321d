// verify.test.mjs - verification in a second language: RFC 8785 against
// every number and document vector, verifyChain against every session vector
// and tampered copies (a changed input, a removed event, a swapped order,
// each named as the first mismatch), a real session read back from the
// server; receipts from a server with --signing-key checked by
// verifyReceipt, a tampered one refused.

import { test } from "node:test";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { canonicalize, chainStep, createClient, verifyChain, verifyEntry, verifyReceipt, GENESIS } from "../src/index.js";
import { ev, http, makeSigningKey, startServer, tempDir, vectors } from "./helpers.mjs";

const V = vectors();

/** A vector session's events in the stored shape (the client event, digests, link, seq). */
function stored(session) {
  return session.events.map((e, i) => ({ ...e.event, seq: i, input_sha256: e.input_sha256, output_sha256: e.output_sha256, link: e.link }));
}

test("canonicalize: every number vector spelled as ECMAScript does", () => {
  assert.equal(V.numbers.length, 624);
  for (const n of V.numbers) {
    const d = Buffer.from(n.bits, "hex").readDoubleBE(0);
    assert.equal(canonicalize(d), n.text, `bits ${n.bits}`);
  }
});

test("canonicalize: every document vector", () => {
  assert.equal(V.documents.length, 40);
  for (const d of V.documents) assert.equal(canonicalize(JSON.parse(d.json)), d.canonical, d.json);
  assert.equal(canonicalize({ b: 1, a: [true, null, "x\u0001\n"], "\u00e9": -0, "\ud83d\ude00": 1, "\uff61": 2 }), '{"a":[true,null,"x\\u0001\\n"],"b":1,"é":0,"😀":1,"｡":2}');
  assert.throws(() => canonicalize({ a: NaN }), /not a JSON number/);
  assert.throws(() => canonicalize("\ud800"), /lone surrogate/);
});

test("verifyChain: every session vector, every digest, input_n, output_n, link and the chain hash", async () => {
  assert.equal(V.sessions.length, 8);
  let events = 0;
  for (const s of V.sessions) {
    let prev = GENESIS;
    for (const e of s.events) {
      const step = await chainStep(e.event, prev);
      assert.equal(step.input_sha256, e.input_sha256);
      assert.equal(step.output_sha256, e.output_sha256);
      assert.equal(step.input_n, e.input_n);
      assert.equal(step.output_n, e.output_n);
      assert.equal(step.link, e.link);
      prev = step.link;
      events++;
    }
    const r = await verifyChain(stored(s), { sessionId: s.session_id, chainHash: s.chain_hash });
    assert.equal(r.ok, true, `${s.session_id}: ${JSON.stringify(r.mismatch)}`);
    assert.equal(r.chain_hash, s.chain_hash);
    assert.equal(r.event_count, s.events.length);
    assert.equal(r.mismatch, null);
  }
  assert.ok(events >= 20, `${events} events checked`);
});

test("verifyChain names the first mismatch of a tampered chain", async () => {
  const s = V.sessions.find((x) => x.events.length >= 5);
  const base = stored(s);
  const check = (events, opts = {}) => verifyChain(events, { sessionId: s.session_id, chainHash: s.chain_hash, ...opts });

  // a changed input: its digest no longer matches it
  const changed = structuredClone(base);
  changed[2].input = { tampered: true };
  let r = await check(changed);
  assert.equal(r.ok, false);
  assert.deepEqual([r.mismatch.index, r.mismatch.seq, r.mismatch.field, r.mismatch.event_id], [2, 2, "input_sha256", base[2].id]);
  assert.equal(r.mismatch.actual, base[2].input_sha256);

  // a changed status: the link breaks there
  const status = structuredClone(base);
  status[1].status = status[1].status === "success" ? "failure" : "success";
  r = await check(status);
  assert.deepEqual([r.mismatch.index, r.mismatch.field, r.mismatch.event_id], [1, "link", base[1].id]);

  // a removed event: the next one is not at its place
  const removed = base.filter((_, i) => i !== 1);
  r = await check(removed);
  assert.deepEqual([r.mismatch.index, r.mismatch.seq, r.mismatch.field, r.mismatch.expected, r.mismatch.actual], [1, 2, "seq", 1, 2]);
  // ... and without seqs (the vector form), the link after the hole breaks
  r = await check(removed.map(({ seq, ...e }) => e));
  assert.deepEqual([r.mismatch.index, r.mismatch.field, r.mismatch.event_id], [1, "link", base[2].id]);

  // a swapped order
  const swapped = [...base];
  [swapped[2], swapped[3]] = [swapped[3], swapped[2]];
  r = await check(swapped);
  assert.deepEqual([r.mismatch.index, r.mismatch.field, r.mismatch.expected, r.mismatch.actual], [2, "seq", 2, 3]);
  r = await check(swapped.map(({ seq, ...e }) => e));
  assert.deepEqual([r.mismatch.index, r.mismatch.field, r.mismatch.event_id], [2, "link", base[3].id]);

  // the last event dropped: every link holds, the chain hash does not
  r = await check(base.slice(0, -1));
  assert.deepEqual([r.mismatch.field, r.mismatch.index], ["chain_hash", base.length - 1]);
  assert.equal(r.mismatch.actual, s.chain_hash);
});

test("a real session read back from the server verifies, and its report's chain hash is the one computed", async () => {
  const server = await startServer();
  try {
    const client = createClient({ url: server.url });
    await client.track(ev("v_real", "checkout_started", "success", { input: { cart: [{ sku: "A-1", qty: 2, price: 19.99 }], note: "é\u2028😀" } }));
    await client.trackBatch([
      ev("v_real", "payment_initiated", "started", { input: { amount: 1e21, tiny: 5e-324 } }),
      ev("v_real", "payment_initiated", "failure", { error: { code: "card_declined", message: 'quote " and \\' } }),
      ev("v_real", "payment_initiated", "success", { output: { auth: "ok", n: -0 } }),
    ]);
    const report = await client.report("v_real");
    assert.equal(report.events.length, 4);
    const r = await verifyChain(report.events, { chainHash: report.chain_hash });
    assert.equal(r.ok, true, JSON.stringify(r.mismatch));
    assert.equal(r.chain_hash, report.chain_hash);
    const { data } = await client.status("v_real");
    assert.equal(data.checksum.chain_hash, r.chain_hash);
    // the same events altered after they left the server
    const bad = structuredClone(report.events);
    bad[3].output.auth = "forged";
    const r2 = await verifyChain(bad, { chainHash: report.chain_hash });
    assert.deepEqual([r2.ok, r2.mismatch.seq, r2.mismatch.field], [false, 3, "output_sha256"]);
  } finally {
    await server.stop();
  }
});

test("receipts from --signing-key verify with the served public key; a tampered receipt or answer is refused", async () => {
  const dir = tempDir("signed");
  const key = makeSigningKey(dir);
  const server = await startServer({ dir, args: ["--signing-key", key.file] });
  try {
    const client = createClient({ url: server.url });
    const pub = await client.publicKey();
    assert.deepEqual(pub, { algorithm: "ed25519", public_key: key.publicKey });
    const a = await client.track(ev("v_signed", "checkout_started", "success"), { autoSnapshot: true });
    assert.equal(typeof a.receipt, "string");
    assert.equal(await verifyReceipt(a, pub.public_key), true);
    assert.equal(await verifyReceipt(a, pub), true);
    const { results } = await client.trackBatch([ev("v_signed", "payment_initiated", "started"), ev("v_signed", "nope", "started")]);
    assert.equal(await verifyReceipt(results[0], key.publicKey), true);
    assert.equal(results[1].status, 422);
    // a replay answers the same receipt again
    const again = await client.track({ ...ev("v_signed", "checkout_started", "success"), id: a.event.id });
    assert.equal(again.replayed, true);
    assert.equal(again.receipt, a.receipt);

    // one bit of the signature changed
    const sig = Buffer.from(a.receipt, "base64");
    sig[10] ^= 1;
    assert.equal(await verifyReceipt({ ...a, receipt: sig.toString("base64") }, pub), false);
    // the answer changed: another seq, another link
    assert.equal(await verifyReceipt({ ...a, event: { ...a.event, seq: 1 } }, pub), false);
    assert.equal(await verifyReceipt({ ...a, event: { ...a.event, link: results[0].event.link } }, pub), false);
    // another key
    const other = makeSigningKey(tempDir("other"));
    assert.equal(await verifyReceipt(a, other.publicKey), false);
    assert.equal(await verifyReceipt({ ...a, receipt: "not base64!" }, pub), false);
    await assert.rejects(verifyReceipt({ ...a, receipt: null }, pub), /no receipt/);

    // the registry entry made with the event is signed too
    assert.equal(await verifyEntry(a.snapshot, pub), true);
    assert.equal(await verifyEntry({ ...a.snapshot, notes: "forged" }, pub), false);
    const raw = await http(`${server.url}/api/pipeline/verify?session_id=v_signed`);
    assert.equal(raw.json.ok, true);
  } finally {
    await server.stop();
  }
});

test("without globalThis.crypto (as on Node 18 builds that lack it) WebCrypto comes from node:crypto", async () => {
  const { spawnSync } = await import("node:child_process");
  const src = new URL("../src/index.js", import.meta.url).href;
  const script = `
    Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true, writable: true });
    const m = await import(${JSON.stringify(src)});
    const h = await m.sha256Hex("abc");
    const v = await m.verifyChain([], { sessionId: "s" });
    process.stdout.write(JSON.stringify([h, v.chain_hash, m.newEventId().length]));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  const [h, chain, idLength] = JSON.parse(r.stdout);
  assert.equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // the chain hash of a session without events: hex(SHA-256("s:GENESIS"))
  assert.equal(chain, createHash("sha256").update("s:GENESIS").digest("hex"));
  assert.equal(idLength, 40);
});
