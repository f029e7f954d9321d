// webcrypto.js - the platform's WebCrypto: globalThis.crypto in browsers,
// Deno, Bun and Node 19+; node:crypto's webcrypto on Node 18, where the
// global is missing.

let cached = null;

/** @returns {Promise<Crypto>} */
export async function getCrypto() {
  if (cached) return cached;
  if (globalThis.crypto && globalThis.crypto.subtle) {
    cached = globalThis.crypto;
  } else {
    // a computed specifier keeps browser bundlers from trying to resolve it
    const mod = "node:crypto";
    cached = (await import(/* webpackIgnore: true */ mod)).webcrypto;
  }
  return cached;
}

const hexDigits = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex of SHA-256 over the UTF-8 bytes of a string. */
export async function sha256Hex(text) {
  const c = await getCrypto();
  const digest = new Uint8Array(await c.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let out = "";
  for (const b of digest) out += hexDigits[b];
  return out;
}

/**
 * A fresh random UUID (v4), synchronously: crypto.randomUUID where the
 * platform has it (or node:crypto's once getCrypto() has loaded it), else
 * getRandomValues, else (no WebCrypto at all) Math.random with the time.
 */
export function randomUUID() {
  const c = (globalThis.crypto && globalThis.crypto.getRandomValues ? globalThis.crypto : null) || cached;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c) c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) ^ (i < 6 ? Date.now() / 2 ** (8 * i) : 0);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => hexDigits[x]).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Bytes of a standard or URL-safe base64 text (padding optional). */
export function base64ToBytes(b64) {
  const s = String(b64).trim().replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new TypeError("not base64");
  const bin = atob(s.padEnd(Math.ceil(s.length / 4) * 4, "="));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
