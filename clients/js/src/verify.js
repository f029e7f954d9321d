// verify.js - what a client checks on its own, with nothing but WebCrypto:
// a session's hash chain recomputed from its events (RFC 8785 + SHA-256),
// the Ed25519 receipt of a tracked event, the signature of a registry entry.

import { canonicalize } from "./jcs.js";
import { base64ToBytes, getCrypto, sha256Hex } from "./webcrypto.js";

export const GENESIS = "GENESIS";

/** hex(SHA-256(session_id + ":" + link)): the chain hash after the event whose link this is. */
export function chainHashOf(sessionId, link) {
  return sha256Hex(`${sessionId}:${link}`);
}

/**
 * One step of the chain: the digests and the link of `event` after
 * `prevLink`. With `{ trustDigests: true }` the event's own
 * input_sha256/output_sha256 are used (a redacted event has no payloads to
 * hash).
 */
export async function chainStep(event, prevLink, { trustDigests = false } = {}) {
  const input_sha256 = trustDigests ? event.input_sha256 : await sha256Hex(canonicalize(event.input ?? null));
  const output_sha256 = trustDigests ? event.output_sha256 : await sha256Hex(canonicalize(event.output ?? null));
  const input_n = canonicalize({ id: event.id ?? null, input_sha256, step: event.step ?? null, ts: event.ts ?? null });
  const output_n = canonicalize({ error: event.error ?? null, output_sha256, status: event.status ?? null });
  const link = await sha256Hex(`${prevLink}:${input_n}:${output_n}`);
  return { input_sha256, output_sha256, input_n, output_n, link };
}

function mismatch(index, event, field, expected, actual, reason) {
  return {
    index,
    seq: event && typeof event.seq === "number" ? event.seq : index,
    event_id: event ? event.id ?? null : null,
    field,
    expected,
    actual,
    reason,
  };
}

/**
 * Recomputes a session's chain from its events, in order, from seq 0 (a
 * report's or an export's events; a status lists only the latest 100), and
 * compares every stored seq, digest and link, then the chain hash when
 * `options.chainHash` is given. Stops at the first mismatch and names it.
 */
export async function verifyChain(events, options = {}) {
  if (!Array.isArray(events)) throw new TypeError("verifyChain: events must be an array");
  const sessionId = options.sessionId ?? (events.length ? events[0].session_id : undefined);
  if (typeof sessionId !== "string") throw new TypeError("verifyChain: no session id (pass options.sessionId)");
  const result = (link, m) => ({
    ok: m === null,
    session_id: sessionId,
    event_count: events.length,
    last_link: link,
    chain_hash: null,
    mismatch: m,
  });
  let prev = GENESIS;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e === null || typeof e !== "object") return result(prev, mismatch(i, null, "event", "an object", e, `events[${i}] is not an event`));
    if (e.session_id !== undefined && e.session_id !== sessionId)
      return result(prev, mismatch(i, e, "session_id", sessionId, e.session_id, `events[${i}] belongs to session ${JSON.stringify(e.session_id)}`));
    if (e.seq !== undefined && e.seq !== i)
      return result(prev, mismatch(i, e, "seq", i, e.seq, `events[${i}] has seq ${e.seq}, expected ${i}: an event is missing, added or out of order`));
    const step = await chainStep(e, prev, { trustDigests: e.redacted === true });
    for (const f of ["input_sha256", "output_sha256"]) {
      if (e[f] !== undefined && e[f] !== step[f])
        return result(prev, mismatch(i, e, f, step[f], e[f], `events[${i}].${f} does not match its ${f.slice(0, -7)}: the payload was changed`));
    }
    if (e.link !== undefined && e.link !== step.link)
      return result(prev, mismatch(i, e, "link", step.link, e.link, `events[${i}].link does not follow from the events before it`));
    prev = step.link;
  }
  const chainHash = await chainHashOf(sessionId, prev);
  const r = result(prev, null);
  r.chain_hash = chainHash;
  if (options.chainHash !== undefined && options.chainHash !== chainHash) {
    r.ok = false;
    r.mismatch = mismatch(events.length, null, "chain_hash", chainHash, options.chainHash, "the chain hash does not match the events");
    r.mismatch.seq = null;
  }
  return r;
}

async function importEd25519(publicKey) {
  const c = await getCrypto();
  if (publicKey && typeof publicKey === "object" && publicKey.type === "public" && publicKey.algorithm) return publicKey; // a CryptoKey
  let raw = publicKey;
  if (raw && typeof raw === "object" && typeof raw.public_key === "string") raw = raw.public_key; // GET /api/pipeline/pubkey's answer
  if (typeof raw === "string") raw = base64ToBytes(raw);
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new TypeError("publicKey: expected the 32 raw bytes of an Ed25519 key (base64, or /api/pipeline/pubkey's answer)");
  return c.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

async function ed25519Check(key, signatureB64, message) {
  let sig;
  try {
    sig = base64ToBytes(signatureB64);
  } catch {
    return false;
  }
  if (sig.length !== 64) return false;
  const c = await getCrypto();
  return c.subtle.verify({ name: "Ed25519" }, key, sig, new TextEncoder().encode(message));
}

/**
 * Checks the receipt of a track answer (or of one stored result of a batch):
 * base64 Ed25519 over JCS({chain_hash, link, seq, session_id}) of the event
 * as acknowledged. Resolves true when the server's key signed exactly that.
 */
export async function verifyReceipt(answer, publicKey) {
  const ev = answer && answer.event;
  if (!ev || typeof ev.session_id !== "string" || typeof ev.link !== "string" || typeof ev.seq !== "number")
    throw new TypeError("verifyReceipt: expected a track answer with event.session_id, event.seq and event.link");
  if (typeof answer.receipt !== "string") throw new TypeError("verifyReceipt: the answer has no receipt (is the server started with --signing-key?)");
  const key = await importEd25519(publicKey);
  const message = canonicalize({
    chain_hash: await chainHashOf(ev.session_id, ev.link),
    link: ev.link,
    seq: ev.seq,
    session_id: ev.session_id,
  });
  return ed25519Check(key, answer.receipt, message);
}

/** Checks a registry entry's `signature`: base64 Ed25519 over JCS of the entry without it. */
export async function verifyEntry(entry, publicKey) {
  if (!entry || typeof entry.signature !== "string") throw new TypeError("verifyEntry: the entry has no signature");
  const key = await importEd25519(publicKey);
  const { signature, ...unsigned } = entry;
  return ed25519Check(key, signature, canonicalize(unsigned));
}
