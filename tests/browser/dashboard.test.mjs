// dashboard.test.mjs - the dashboard in headless Chromium (Debian's chromium,
// driven by playwright-core): it loads without console errors, a session
// view updates live as events are posted (no reload), a failure shows up in
// the issues view, an event holding HTML renders as text and runs nothing,
// the verify button reports a tampered session; issue 16's defects (each
// measured in the page), the report and its copy button, the time range and
// the charts (their data-* counts against what was tracked), the issue page,
// search; every view at desktop and phone width. Screenshots go to SHOTS
// (dashboard-<view>-<desktop|phone>.png are the ones under docs/).
// Usage: node dashboard.test.mjs PIPETRACKD TMPDIR SHOTS
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

// a part of the test: a failure (a wait that times out) is counted and the
// next part still runs
async function part(name, fn) {
  try {
    await fn();
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${(e.stack || String(e)).split("\n").slice(0, 3).join(" | ")}`);
  }
}

// In the page: where the text of `sel`'s elements wraps. For each element,
// its text and the indexes where a new line starts (measured per character
// with a Range, so it holds for text in any element structure); `perNode`
// measures each text node on its own (a <br> between two dates is not a wrap).
async function wraps(page, sel, perNode = false) {
  return page.evaluate(([sel, perNode]) => {
    const out = [];
    for (const el of document.querySelectorAll(sel)) {
      const groups = [];
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      let cur = null;
      for (let n; (n = walker.nextNode());) {
        if (!cur || perNode) groups.push((cur = { text: "", tops: [] }));
        for (let i = 0; i < n.length; i++) {
          const r = document.createRange();
          r.setStart(n, i);
          r.setEnd(n, i + 1);
          const b = r.getBoundingClientRect();
          cur.text += n.data[i];
          cur.tops.push(b.width || b.height ? b.top : null);
        }
      }
      for (const g of groups) {
        const at = [];
        let last = null;
        g.tops.forEach((t, i) => { if (t === null) return; if (last !== null && t > last + 2) at.push(i); last = t; });
        out.push({ text: g.text, at });
      }
    }
    return out;
  }, [sel, perNode]);
}
// a break inside a word: not after "_", "-", "/" or a space
const midWord = (w) => w.at.filter((i) => !/[_\-/\s]/.test(w.text[i - 1]) && !/\s/.test(w.text[i]));

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
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
// (Chromium logs every 404 answer; those of an unknown session or issue, and
// of the search's look-up of a session id, are expected)
page.on("console", (m) => { if (m.type() === "error" && !/does_not_exist|iss_0000|events_limit=1&history_limit=1/.test(m.location().url)) errors.push(m.text()); });
page.on("pageerror", (e) => errors.push(String(e)));
let dialogs = 0;
page.on("dialog", (d) => { dialogs++; d.dismiss(); });
// requests for a session's status (polls), counted by the parts that need it
let statusReads = 0;
page.on("request", (r) => { if (r.url().includes("/api/pipeline/status")) statusReads++; });
try {
  await part("1. loads", async () => {
    await page.goto(`${base}/`);
    await page.getByText("No sessions yet.").waitFor({ timeout: 10000 });
    check(errors.length === 0, `the page loads with no console errors (${errors.join("; ")})`);
  });

  await part("2. a live session", async () => {
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
  });

  await part("3. HTML as text", async () => {
    const evil = "<img src=x onerror=alert(1)>";
    await track(ev("web1", "payment_confirmed", "success", { input: { note: evil } }));
    await page.getByText("3/4 steps").waitFor({ timeout: 10000 });
    const shown = await page.locator("pre", { hasText: "onerror=alert(1)" }).count();
    check(shown >= 1, "the event's HTML is shown as text");
    check((await page.locator('img[src="x"]').count()) === 0 && dialogs === 0, "and no element was made from it, no script ran");
  });

  await part("4. issues", async () => {
    await track(ev("web2", "checkout_started", "success"));
    await track(ev("web2", "payment_initiated", "failure", { error: { code: "card_declined", message: "Declined" } }));
    await page.goto(`${base}/#/issues`);
    await page.getByText("payment_initiated failed in checkout_digital: card_declined").waitFor({ timeout: 10000 });
    check(true, "the failure is in the issues view");
    await page.screenshot({ path: join(SHOTS, "issues.png"), fullPage: true });
  });

  await part("5. verify", async () => {
    await page.goto(`${base}/#/session/web2`);
    await page.getByText("Verify chain").click();
    await page.locator("#verify-result").getByText("chain verified").waitFor({ timeout: 10000 });
    check(true, "an untouched session verifies");
    execFileSync("sqlite3", [db, "UPDATE events SET step = 'checkout_completed' WHERE session_id = 'web2' AND seq = 0;"]);
    await page.getByText("Verify chain").click();
    await page.locator("#verify-result").getByText("mismatch").waitFor({ timeout: 10000 });
    check((await page.locator("#verify-result li").first().textContent()).includes("event seq 0"), "the verify button names the tampered event");
  });

  await part("6. the other views, at laptop and phone widths", async () => {
    await page.goto(`${base}/#/sessions`);
    await page.getByText("web2").first().waitFor({ timeout: 10000 });
    // defect: replaceChildren(…, null) wrote "null" when there is no next page
    const nulls = await page.evaluate(() => {
      const w = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
      let n = 0;
      for (let t; (t = w.nextNode());) if (t.data.trim() === "null") n++;
      return n;
    });
    check(nulls === 0, `no literal "null" under the sessions table (${nulls} text nodes "null")`);
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
  });

  await part("defect: names at phone width", async () => {
    // at 390 px step names broke mid-word ("payment_initiate|d") and the
    // timeline's labels ran into their bars
    const names = await wraps(page, ".step .name, .tl-row > :first-child");
    const bad = names.filter((w) => midWord(w).length);
    check(names.length >= 7 && bad.length === 0, `no step name breaks inside a word at 390 px (${bad.map((w) => `${w.text}@${w.at}`).join(", ") || `${names.length} names`})`);
    const rows = await page.evaluate(() => [...document.querySelectorAll(".tl-row")].map((row) => {
      const label = row.firstElementChild, track = row.querySelector(".tl-track"), bar = row.querySelector(".tl-bar"), d = row.lastElementChild;
      const r = document.createRange();
      r.selectNodeContents(label);
      const t = r.getBoundingClientRect(), k = track.getBoundingClientRect(), b = bar.getBoundingClientRect(), e = d.getBoundingClientRect();
      const sameLine = t.bottom > k.top && t.top < k.bottom;
      return { name: label.textContent, overlap: (sameLine && t.right > k.left + 0.5) || b.left < k.left - 0.5 || b.right > k.right + 0.5 || e.left < k.right - 0.5 && e.top < k.bottom && e.bottom > k.top,
        glyph: getComputedStyle(bar, "::before").content };
    }));
    const hit = rows.filter((r) => r.overlap || (r.glyph !== "none" && r.glyph !== "normal"));
    check(rows.length === 3 && hit.length === 0, `no timeline label overlaps its bar at 390 px, bars stay in their tracks (${JSON.stringify(hit)})`);
  });

  await part("defect: unknown session", async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}/#/session/does_not_exist`);
    await page.locator("main h1", { hasText: "No such session" }).waitFor({ timeout: 5000 });
    check((await page.locator("main").textContent()).includes("does_not_exist"), "an unknown session says so, naming it");
    const n = statusReads;
    await new Promise((r) => setTimeout(r, 2500));
    check(statusReads === n, `and stops asking (${statusReads - n} more status requests in 2.5 s)`);
  });

  await part("defect: the report", async () => {
    await track(ev("chk_rep_1", "checkout_started", "success"));
    await track(ev("chk_rep_1", "payment_initiated", "failure", { error: { code: "card_declined", message: "Declined <b>twice</b> *now*" } }));
    await page.goto(`${base}/#/session/chk_rep_1`);
    await page.getByText("Show report").click();
    const rep = page.locator("#report");
    await rep.getByText("Pipeline report: chk_rep_1").waitFor({ timeout: 10000 });
    const text = await rep.textContent();
    check(!text.includes("\\_") && (await rep.locator("pre").count()) === 0, "the report is HTML, not escaped Markdown in a <pre> (no \\_)");
    check((await rep.locator("table.report-events tbody tr").count()) === 2, "its events table has the session's 2 events");
    check((await rep.locator("dl.facts").first().innerText()).includes("Progress\n1/4 (25%)"), "its progress, as the Markdown report has it (1/4 (25%))");
    check((await rep.locator(".first-failure").textContent()).includes("card_declined: Declined <b>twice</b> *now*") && (await rep.locator("b").count()) === 0,
      "the first failure shows the error as text (no element made from it)");
    check((await rep.locator(".verification").textContent()).includes("ok"), "the verification is shown");
    check((await rep.locator("h3").allTextContents()).join("|") === "First failure|Events (2)|Checksum history (0)|Chain", "with the Markdown report's sections");
    await rep.screenshot({ path: join(SHOTS, "report.png") });
    // the copy button writes the server's Markdown text to the clipboard
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    await rep.getByText("Copy as Markdown").click();
    await rep.getByText("copied as Markdown").waitFor({ timeout: 5000 });
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const md = await (await fetch(`${base}/api/pipeline/report?session_id=chk_rep_1&format=markdown`)).text();
    const noTime = (t) => t.replace(/\*\*Generated at:\*\* .*/, "");
    check(copied.startsWith("# Pipeline report: chk\\_rep\\_1") && noTime(copied) === noTime(md), `"Copy as Markdown" copies the Markdown report (${copied.length} characters)`);
  });

  await part("defect: issue dates", async () => {
    await track(ev("web5", "payment_initiated", "failure", { error: { code: "upstream_payment_gateway_timeout_while_capturing", message: "The gateway did not answer within 30 s" } }));
    for (const width of [1280, 760]) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${base}/#/issues`);
      await page.getByText("upstream_payment_gateway_timeout_while_capturing").first().waitFor({ timeout: 10000 });
      const col = await page.evaluate(() => [...document.querySelectorAll("thead th")].findIndex((th) => /first/i.test(th.textContent)) + 1);
      const dates = await wraps(page, `tbody td:nth-child(${col})`, true);
      const bad = dates.filter((w) => w.text.trim() && w.at.length);
      check(col > 0 && dates.length >= 4 && bad.length === 0, `each issue date is on one line at ${width} px (${bad.map((w) => w.text).join(", ") || `${dates.length} dates`})`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await part("time range and charts", async () => {
    // three data_job sessions: one completed (extract took 3 s, transform
    // 1 s by their events' ts), one failed, one still open
    const T0 = Date.now() - 10000, dj = (sid, step, status, extra = {}) => ev(sid, step, status, Object.assign({ pipeline_type: "data_job" }, extra));
    for (const [step, a, b] of [["job_queued", 0, 0], ["extract", 0, 3000], ["transform", 3000, 4000], ["load", 4000, 4000], ["job_completed", 4000, 4000]]) {
      await track(dj("j1", step, "started", { ts: T0 + a }));
      await track(dj("j1", step, "success", { ts: T0 + b }));
    }
    await track(dj("j2", "job_queued", "success"));
    await track(dj("j2", "extract", "failure", { error: { code: "source_unreachable", message: "The S3 bucket did not answer" } }));
    await track(dj("j3", "job_queued", "success"));
    const seen = [];
    page.on("request", (r) => { if (/\/api\/pipeline\/(stats|timeseries|sessions|issues)\?/.test(r.url())) seen.push(r.url()); });
    await page.goto(`${base}/#/pipelines?pipeline_type=data_job&range=1h`);
    await page.locator("svg.volume").waitFor({ timeout: 10000 });
    const bars = await page.$$eval("svg.volume g.bar", (gs) => gs.map((g) => ({ start: +g.dataset.start, s: +g.dataset.sessions, c: +g.dataset.completed, f: +g.dataset.failed, title: g.querySelector("title").textContent })));
    const sum = (k) => bars.reduce((n, b) => n + b[k], 0);
    check(bars.length >= 60 && bars.length <= 62 && sum("s") === 3 && sum("c") === 1 && sum("f") === 1,
      `last hour: a bar a minute (${bars.length}), 3 started, 1 completed, 1 failed (${sum("s")}, ${sum("c")}, ${sum("f")})`);
    const full = bars.filter((b) => b.s > 0);
    check(full.every((b) => b.title.includes(`${b.s} started, ${b.c} completed, ${b.f} failed`)), `each bar's tooltip says its counts (${full.map((b) => b.title).join("; ")})`);
    const pts = await page.$$eval("svg.rate circle", (cs) => cs.map((c) => ({ start: +c.dataset.start, rate: +c.dataset.rate })));
    check(pts.length === full.length && pts.every((p) => { const b = full.find((x) => x.start === p.start); return b && Math.abs(p.rate - b.f / b.s) < 1e-3; }),
      `the failure rate has a point per bucket with sessions, failed/started (${JSON.stringify(pts)})`);
    const durs = await page.$$eval("svg.durations g.dur", (gs) => Object.fromEntries(gs.map((g) => [g.dataset.step, [+g.dataset.p50, +g.dataset.p95]])));
    const near = (v, want) => Math.abs(v - want) <= want * 0.03;
    check(near(durs.extract?.[0], 3000) && near(durs.extract?.[1], 3000) && near(durs.transform?.[0], 1000),
      `p50/p95 step durations from the stats: extract ≈ 3 s, transform ≈ 1 s (${JSON.stringify(durs)})`);
    check(seen.some((u) => u.includes("/timeseries?") && u.includes("interval=minute") && /since=\d+/.test(u)), "the last hour reads minute buckets since an hour ago");
    await page.screenshot({ path: join(SHOTS, "pipelines.png"), fullPage: true });
    // the picker: another range is kept in the hash, and read with it
    seen.length = 0;
    await page.getByLabel("time range").selectOption("7d");
    await page.waitForFunction(() => location.hash.includes("range=7d"));
    await page.locator("svg.volume").waitFor({ timeout: 10000 });
    await page.waitForTimeout(300);
    check(seen.some((u) => u.includes("interval=hour")) && (await page.$$eval("svg.volume g.bar", (gs) => gs.length)) >= 168,
      "\"last week\" in the picker: the hash says range=7d, the chart has hourly bars");
    check((await page.locator('[data-nav="sessions"]').getAttribute("href")).includes("range=7d"), "the navigation keeps the range");
    // a custom range in the past: nothing in it, in every view
    const past = "range=custom&from=2020-01-01T00:00&to=2020-01-02T00:00";
    seen.length = 0;
    await page.goto(`${base}/#/pipelines?pipeline_type=data_job&${past}`);
    await page.locator("svg.volume").waitFor({ timeout: 10000 });
    const since = new Date("2020-01-01T00:00").getTime(), until = new Date("2020-01-02T00:00").getTime();
    check(seen.some((u) => u.includes("/stats?") && u.includes(`since=${since}`) && u.includes(`until=${until}`)) &&
      (await page.$$eval("svg.volume g.bar", (gs) => gs.reduce((n, g) => n + +g.dataset.sessions, 0))) === 0 && (await page.$$eval("svg.volume g.bar", (gs) => gs.length)) === 24,
      "a custom range reads the stats and 24 hourly buckets of that day, with no sessions");
    seen.length = 0;
    await page.goto(`${base}/#/sessions?${past}`);
    await page.getByText("No sessions active in the range").waitFor({ timeout: 10000 });
    await page.goto(`${base}/#/issues?${past}`);
    await page.getByText("issues seen in the range").waitFor({ timeout: 10000 });
    check(seen.some((u) => u.includes("/sessions?") && u.includes(`since=${since}`) && u.includes(`until=${until}`)) &&
      seen.some((u) => u.includes("/issues?") && u.includes(`since=${since}`) && u.includes(`until=${until}`)),
      `the sessions and issues of a range are asked of the server by since and until (${seen.filter((u) => /sessions|issues/.test(u)).join(" ")})`);
    check(true, "the sessions and issues of a past range are empty, and say so");
    await page.goto(`${base}/#/sessions?range=1h`);
    await page.getByText("j3").waitFor({ timeout: 10000 });
    check((await page.locator("tbody tr").count()) === 7, `the last hour lists the 7 sessions tracked (${await page.locator("tbody tr").count()})`);
  });

  await part("the issue page", async () => {
    // card_declined failed in web2 and chk_rep_1
    const list = await (await fetch(`${base}/api/pipeline/issues?status=open`)).json();
    const want = list.items.find((x) => x.code === "card_declined");
    const api = await (await fetch(`${base}/api/pipeline/issues/${want.id}`)).json();
    await page.goto(`${base}/#/issues?range=1h`);
    await page.locator("a.issue-link", { hasText: "card_declined" }).click();
    await page.waitForFunction((id) => location.hash.startsWith(`#/issue/${id}?range=1h`), want.id);
    await page.locator("svg.trend").waitFor({ timeout: 10000 });
    const main = page.locator("main");
    check((await main.locator(".issue-msg").textContent()) === api.sample_event.error.message, `the issue page shows the error message (${api.sample_event.error.message})`);
    check((await main.locator(".count").textContent()) === String(api.count) && api.count === 2, `and its count (${api.count})`);
    check((await main.locator("time").first().getAttribute("datetime")) === new Date(api.first_seen).toISOString(), "and when it was first seen");
    const links = await main.locator("table.issue-sessions a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    check(links.length === 2 && api.sessions.every((s) => links.includes(`#/session/${s.session_id}`)), `its sample sessions link to their session views (${links.join(", ")})`);
    const n = await page.$$eval("svg.trend g.bar", (gs) => gs.reduce((k, g) => k + +g.dataset.n, 0));
    check(n === 2, `its trend counts the 2 sessions affected in the last hour (${n})`);
    const series = await (await fetch(`${base}/api/pipeline/issues/${want.id}/timeseries?interval=minute&since=${Date.now() - 3600e3}`)).json();
    check(series.total === 2, `the issue's own series counts them too (${series.total})`);
    await page.screenshot({ path: join(SHOTS, "issue.png"), fullPage: true });
    await main.locator("table.issue-sessions a", { hasText: "chk_rep_1" }).click();
    await page.getByText("Session chk_rep_1").waitFor({ timeout: 10000 });
    check(true, "a sample session opens its session view");
    await page.goto(`${base}/#/issue/iss_000000000000000000000000`);
    await page.locator("main h1", { hasText: "No such issue" }).waitFor({ timeout: 5000 });
    check(true, "an unknown issue says so");
  });

  await part("search", async () => {
    const search = async (text) => {
      await page.locator("#search-input").fill(text);
      await page.locator("#search-input").press("Enter");
    };
    await page.goto(`${base}/#/sessions?range=1h`);
    await search("j1");
    await page.getByText("Session j1").waitFor({ timeout: 10000 });
    check(page.url().endsWith("#/session/j1"), "an exact session id opens the session");
    await search("web");
    await page.locator("main h1", { hasText: "Search “web”" }).waitFor({ timeout: 10000 });
    await page.locator("main table").first().waitFor({ timeout: 10000 });
    const ids = (await page.locator("main table").first().locator("tbody td:first-child").allTextContents()).sort();
    check(await page.locator(".no-session").textContent() === "No session has the id “web”." && ids.join(",") === "web1,web2,web5",
      `a prefix lists the sessions whose id starts with it, and says no session has that id (${ids})`);
    check(page.url().includes("range=1h"), "the search keeps the time range");
    // the id search is the server's (id_prefix), over every stored session:
    // a range that holds none of them still finds them
    await page.goto(`${base}/#/search?q=web&range=custom&from=2020-01-01T00:00&to=2020-01-02T00:00`);
    await page.locator("main h1", { hasText: "Search “web”" }).waitFor({ timeout: 10000 });
    await page.locator("main table").first().waitFor({ timeout: 10000 });
    const all = (await page.locator("main table").first().locator("tbody td:first-child").allTextContents()).sort();
    check(all.join(",") === "web1,web2,web5", `the id search ignores the range: every stored session (${all})`);
    await page.goto(`${base}/#/sessions?range=1h`); // the issue searches below within the last hour
    await search("does_not");
    await page.getByText("No session has the id “does_not”.").waitFor({ timeout: 10000 });
    check((await page.locator("main table").count()) === 0, "an unknown id: no such session, nothing else matches");
    await search("card_declined");
    await page.locator("main h2", { hasText: "holds “card_declined”" }).waitFor({ timeout: 10000 });
    check((await page.locator("main a.issue-link").allTextContents()).join("|") === "payment_initiated failed in checkout_digital: card_declined", "an error code finds its issue");
    await search("s3 BUCKET");
    await page.locator("main h2", { hasText: "Issues whose error code, title or message holds “s3 BUCKET”" }).waitFor({ timeout: 10000 });
    check((await page.locator("main a.issue-link").allTextContents()).join("|") === "extract failed in data_job: source_unreachable", "words of an error message find its issue (any case)");
    await page.screenshot({ path: join(SHOTS, "search.png"), fullPage: true });
    await page.goto(`${base}/#/issues?range=1h&status=open&q=gateway`);
    await page.locator("main a.issue-link").first().waitFor({ timeout: 10000 });
    check((await page.locator("main a.issue-link").count()) === 1 && (await page.getByLabel("error code or message").inputValue()) === "gateway", "the issues view filters by code or message too");
  });

  await part("7. polling", async () => {
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
  });
  await part("every view at desktop and phone width", async () => {
    // the screenshots of docs/dashboard-<view>-<desktop|phone>.png
    const card = (await (await fetch(`${base}/api/pipeline/issues?status=open`)).json()).items.find((x) => x.code === "card_declined");
    const views = [
      ["sessions", "#/sessions?range=24h", "main table"],
      ["session", "#/session/web1", "text=4/4 steps"],
      ["report", "#/session/chk_rep_1", "text=Show report", async () => { await page.getByText("Show report").click(); await page.locator("#report table").waitFor(); }],
      ["issues", "#/issues?range=24h", "main a.issue-link"],
      ["issue", `#/issue/${card.id}?range=24h`, "svg.trend"],
      ["pipelines", "#/pipelines?pipeline_type=data_job&range=1h", "svg.durations"],
      ["search", "#/search?q=web&range=24h", "main table"],
    ];
    for (const [width, height, tag] of [[1280, 900, "desktop"], [390, 844, "phone"]]) {
      await page.setViewportSize({ width, height });
      for (const [view, hash, ready, then] of views) {
        await page.goto(`${base}/${hash}`);
        await page.locator(ready).first().waitFor({ timeout: 10000 });
        if (then) await then();
        await page.waitForTimeout(200); // charts drawn at this width
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        const bad = (await wraps(page, ".name-text")).filter((w) => midWord(w).length).map((w) => w.text);
        check(overflow <= 1 && bad.length === 0, `${view} at ${width} px: no horizontal overflow (${overflow} px), no name broken inside a word (${bad})`);
        await page.screenshot({ path: join(SHOTS, `dashboard-${view}-${tag}.png`), fullPage: true });
      }
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });
  check(errors.length === 0, `no console errors in the whole run (${errors.join("; ")})`);
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
