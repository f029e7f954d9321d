// dashboard.test.mjs - the dashboard in headless Chromium (Debian's chromium,
// driven by playwright-core): it loads without console errors, a session
// view updates live as events are posted (no reload), a failure shows up in
// the issues view, an event holding HTML renders as text and runs nothing,
// and the verify button reports a tampered session. Screenshots of each
// view go to SHOTS. Usage: node dashboard.test.mjs PIPETRACKD TMPDIR SHOTS
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [PTD, TMP, SHOTS] = process.argv.slice(2);
mkdirSync(TMP, { recursive: true });
mkdirSync(SHOTS, { recursive: true });
const db = join(TMP, `dashboard-${process.pid}.db`);
for (const s of ["", "-wal", "-shm"]) rmSync(db + s, { force: true });

let failures = 0;
function check(cond, what) {
  if (!cond) {
    failures++;
    console.log(`FAIL ${what}`);
  } else {
    console.log(`ok   ${what}`);
  }
}

// the servers this test starts: killed by PID whatever ends the test (a
// signal from ctest's timeout included), so none outlives it
const children = [];
process.on("exit", () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL"); });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

// the real server on a free loopback port, stopped by its PID
const server = spawn(PTD, ["--listen", "127.0.0.1:0", "--db", `sqlite:${db}`, "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
children.push(server);
const base = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/(http:\/\/127\.0\.0\.1:\d+)\//);
    if (m) resolve(m[1]);
  });
  server.on("exit", (c) => reject(new Error(`pipetrackd exited ${c}`)));
  setTimeout(() => reject(new Error("pipetrackd did not start")), 10000);
});

async function track(event) {
  const r = await fetch(`${base}/api/pipeline/track`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ event }) });
  if (r.status !== 201) throw new Error(`track answered ${r.status}: ${await r.text()}`);
}
const ev = (sid, step, status, extra = {}) => Object.assign({ session_id: sid, pipeline_type: "checkout_digital", step, status }, extra);

// a browser that cannot start fails the test at once (and stops the server,
// which would otherwise keep this process alive until ctest's timeout)
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] })
  .catch((e) => { console.log(`FAIL chromium did not start: ${e.message}`); server.kill("SIGKILL"); process.exit(1); });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  let dialogs = 0;
  page.on("dialog", (d) => { dialogs++; d.dismiss(); });

  // 1. loads, no console errors
  await page.goto(`${base}/`);
  await page.getByText("No sessions yet.").waitFor({ timeout: 10000 });
  check(errors.length === 0, `the page loads with no console errors (${errors.join("; ")})`);

  // 2. a session updates live, without a reload
  await track(ev("web1", "checkout_started", "started", { input: { cart_total: 42.5 } }));
  await page.goto(`${base}/#/session/web1`);
  await page.getByText("0/4 steps").waitFor({ timeout: 10000 });
  await page.evaluate(() => { window.__noReload = true; });
  await track(ev("web1", "checkout_started", "success"));
  await page.getByText("1/4 steps").waitFor({ timeout: 10000 });
  await track(ev("web1", "payment_initiated", "started"));
  await new Promise((r) => setTimeout(r, 300));
  await track(ev("web1", "payment_initiated", "success"));
  await page.getByText("2/4 steps").waitFor({ timeout: 10000 });
  check(await page.evaluate(() => window.__noReload === true), "the session view updated live (progress 0/4 → 2/4) without a reload");
  check((await page.locator(".tl-row").count()) === 2, "the timeline shows the two steps");
  check((await page.locator('[role="progressbar"]').getAttribute("aria-valuenow")) === "50", "the progress bar is at 50 %");
  await page.screenshot({ path: join(SHOTS, "session.png"), fullPage: true });

  // 3. HTML in an event is text, and runs nothing
  const evil = "<img src=x onerror=alert(1)>";
  await track(ev("web1", "payment_confirmed", "success", { input: { note: evil } }));
  await page.getByText("3/4 steps").waitFor({ timeout: 10000 });
  const shown = await page.locator("pre", { hasText: "onerror=alert(1)" }).count();
  check(shown >= 1, "the event's HTML is shown as text");
  check((await page.locator('img[src="x"]').count()) === 0 && dialogs === 0, "and no element was made from it, no script ran");


  // 4. a failure shows up in the issues view
  await track(ev("web2", "checkout_started", "success"));
  await track(ev("web2", "payment_initiated", "failure", { error: { code: "card_declined", message: "Declined" } }));
  await page.goto(`${base}/#/issues`);
  await page.getByText("payment_initiated failed in checkout_digital: card_declined").waitFor({ timeout: 10000 });
  check(true, "the failure is in the issues view");
  await page.screenshot({ path: join(SHOTS, "issues.png"), fullPage: true });

  // 5. the verify button reports a tampered session
  await page.goto(`${base}/#/session/web2`);
  await page.getByText("Verify chain").click();
  await page.locator("#verify-result").getByText("chain verified").waitFor({ timeout: 10000 });
  check(true, "an untouched session verifies");
  execFileSync("sqlite3", [db, "UPDATE events SET step = 'checkout_completed' WHERE session_id = 'web2' AND seq = 0;"]);
  await page.getByText("Verify chain").click();
  await page.locator("#verify-result").getByText("mismatch").waitFor({ timeout: 10000 });
  check((await page.locator("#verify-result li").first().textContent()).includes("event seq 0"), "the verify button names the tampered event");

  // 6. the other views, at laptop and phone widths
  await page.goto(`${base}/#/sessions`);
  await page.getByText("web2").first().waitFor({ timeout: 10000 });
  await page.screenshot({ path: join(SHOTS, "sessions.png"), fullPage: true });
  await page.goto(`${base}/#/funnel?pipeline_type=checkout_digital`);
  await page.getByText("median duration").waitFor({ timeout: 10000 });
  await page.screenshot({ path: join(SHOTS, "funnel.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/session/web1`);
  await page.getByText("3/4 steps").waitFor({ timeout: 10000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `usable at phone width (horizontal overflow ${overflow} px)`);
  await page.screenshot({ path: join(SHOTS, "session-phone.png"), fullPage: true });
  check(errors.length === 0, `no console errors in the whole run (${errors.join("; ")})`);

  // 7. without streams the page polls with If-None-Match, and stops when the
  //    session is terminal
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.evaluate(() => sessionStorage.setItem("pipetrack.nostream", "1"));
  const polls = [];
  page.on("request", (r) => { if (r.url().includes("/api/pipeline/status?")) polls.push(r.headers()["if-none-match"] || ""); });
  let notModified = 0;
  page.on("response", (r) => { if (r.url().includes("/api/pipeline/status?") && r.status() === 304) notModified++; });
  await page.goto(`${base}/?polling#/session/web1`); /* a fresh load: the setting is read at start */
  await page.getByText("polling every 2 s").waitFor({ timeout: 10000 });
  await new Promise((r) => setTimeout(r, 2500)); /* an unchanged poll: 304 */
  await track(ev("web1", "checkout_completed", "success"));
  await page.getByText("4/4 steps").waitFor({ timeout: 10000 });
  await page.getByText("finished: not polling").waitFor({ timeout: 10000 });
  check(polls.length >= 3 && polls.slice(1).every((h) => h.startsWith('"')) && notModified >= 1,
    `polls after the first carry If-None-Match, unchanged ones get 304 (${polls.length} polls, ${notModified} × 304)`);
  const n = polls.length;
  await new Promise((r) => setTimeout(r, 2500));
  check(polls.length === n, "no more polls once the session is terminal");
  await page.evaluate(() => sessionStorage.removeItem("pipetrack.nostream"));
} catch (e) {
  failures++;
  console.log(`FAIL ${e.stack || e}`);
} finally {
  await tokenCase().catch((e) => { failures++; console.log(`FAIL token: ${e.stack || e}`); });
  await browser.close();
  const exited = server.exitCode !== null ? server.exitCode : await new Promise((r) => { server.on("exit", (c) => r(c)); server.kill("SIGTERM"); });
  check(exited === 0, `pipetrackd exits 0 after SIGTERM (got ${exited})`);
}
// 8. a server with an API token: the page asks once, keeps it in the tab
async function tokenCase() {
  const db2 = join(TMP, `dashboard-token-${process.pid}.db`);
  for (const s of ["", "-wal", "-shm"]) rmSync(db2 + s, { force: true });
  const srv = spawn(PTD, ["--listen", "127.0.0.1:0", "--db", `sqlite:${db2}`, "--quiet", "--api-token", "t0k"], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(srv);
  const url = await new Promise((resolve, reject) => {
    let out = "";
    srv.stdout.on("data", (d) => { out += d; const m = out.match(/(http:\/\/127\.0\.0\.1:\d+)\//); if (m) resolve(m[1]); });
    setTimeout(() => reject(new Error("pipetrackd did not start")), 10000);
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/`);
    await page.locator("#token-input").fill("t0k");
    await page.getByText("Use token").click();
    await page.getByText("No sessions yet.").waitFor({ timeout: 10000 });
    check(await page.evaluate(() => sessionStorage.getItem("pipetrack.token") === "t0k"), "with --api-token the page asks for the token and keeps it in session storage");
    // a redacted event shows it, live, without its payload
    const auth = { "Content-Type": "application/json", Authorization: "Bearer t0k" };
    const tr = await fetch(`${url}/api/pipeline/track`, { method: "POST", headers: auth, body: JSON.stringify({ event: ev("red1", "checkout_started", "success", { input: { email: "someone@example.com" } }) }) });
    check(tr.status === 201, `track answered ${tr.status}`);
    await page.goto(`${url}/#/session/red1`);
    await page.locator("pre", { hasText: "someone@example.com" }).waitFor({ timeout: 10000 });
    const rr = await fetch(`${url}/api/pipeline/redact`, { method: "POST", headers: auth, body: JSON.stringify({ session_id: "red1" }) });
    check(rr.status === 200, `redact answered ${rr.status}`);
    await page.getByText("payload redacted").first().waitFor({ timeout: 10000 });
    check((await page.locator("pre", { hasText: "someone@example.com" }).count()) === 0, "a redacted event shows no payload, live");
    await page.close();
  } finally {
    const code = await new Promise((r) => { srv.on("exit", (c) => r(c)); srv.kill("SIGTERM"); });
    check(code === 0, "the token server exits 0");
  }
}

console.log(failures ? `${failures} failed` : "all passed");
process.exit(failures ? 1 : 0);
