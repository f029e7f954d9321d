// helpers.mjs - what the tests share: a real pipetrackd on a free loopback
// port with a fresh SQLite database (stopped by its PID, restartable on the
// same database), the vector file, a fetch that records what it sent.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// run.sh copies this folder next to node_modules and says where the repository is;
// run from clients/js itself, the repository is two levels up
export const REPO = process.env.PT_REPO ?? resolve(here, "../../..");
export const PIPETRACKD = process.env.PT_PIPETRACKD ?? join(REPO, "build/pipetrackd");
const TMP = process.env.PT_TMP ?? tmpdir();

export function vectors() {
  return JSON.parse(readFileSync(join(REPO, "tests/vectors/chain-v1.json"), "utf8"));
}

export function tempDir(name) {
  mkdirSync(TMP, { recursive: true });
  return mkdtempSync(join(TMP, `${name}-`));
}

const children = new Set();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/**
 * Starts pipetrackd with `args` on 127.0.0.1 (port 0, or `port` to come
 * back on the same one) and a SQLite database in `dir`. Resolves with
 * {url, port, proc, stop, kill, dir}.
 */
export async function startServer({ args = [], dir, port = 0 } = {}) {
  dir = dir ?? tempDir("ptd");
  const db = join(dir, "pipetrack.db");
  const proc = spawn(PIPETRACKD, ["--listen", `127.0.0.1:${port}`, "--db", `sqlite:${db}`, "--quiet", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(proc);
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
  });
  const url = await new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`pipetrackd did not start in 10 s: ${stderr}`)), 10000);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/(http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    proc.on("exit", (c) => {
      clearTimeout(timer);
      fail(new Error(`pipetrackd exited ${c}: ${stderr}`));
    });
  });
  proc.stdout.resume();
  const exited = new Promise((r) => proc.on("exit", r));
  const server = {
    url,
    port: Number(url.split(":").pop()),
    proc,
    dir,
    get stderr() {
      return stderr;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
      children.delete(proc);
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
      children.delete(proc);
    },
  };
  return server;
}

/** An Ed25519 key made by openssl in `dir`: {file, publicKey (base64 raw)}. */
export function makeSigningKey(dir) {
  const file = join(dir, "key.pem");
  execFileSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", file]);
  const der = execFileSync("openssl", ["pkey", "-in", file, "-pubout", "-outform", "DER"]);
  return { file, publicKey: der.subarray(der.length - 32).toString("base64") };
}

/** A fetch that records each request (url, method, headers, body) and the answer's status. */
export function recordingFetch(inner = globalThis.fetch) {
  const calls = [];
  const f = async (url, init = {}) => {
    const call = { url: String(url), method: init.method ?? "GET", headers: { ...(init.headers || {}) }, body: init.body, keepalive: init.keepalive, status: null, at: Date.now() };
    calls.push(call);
    const res = await inner(url, init);
    call.status = res.status;
    return res;
  };
  f.calls = calls;
  return f;
}

/** Plain HTTP to the server (no client code): {status, headers, json}. */
export async function http(url, { method = "GET", headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, json, text };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function writeFile(path, text) {
  writeFileSync(path, text);
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export const ev = (sid, step, status, extra = {}) => ({ session_id: sid, pipeline_type: "checkout_digital", step, status, ...extra });
