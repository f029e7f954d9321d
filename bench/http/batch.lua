-- POST /api/pipeline/track/batch with 100 events a request, the load of
-- bench_track's batched run (run_batched in bench/bench_track.c): each
-- request carries 100 sessions, each its next checkout_digital step (four
-- requests a group of sessions, then the next group), the same small input,
-- auto_snapshot false.
--
-- Run it with as many wrk threads as connections (-tN -cN, as bench/ingest.sh
-- does): the counters are per thread, so each connection then sends its
-- sessions' steps one request after the other, as a thread does in-process.
-- Session ids carry the thread's number and a per-run prefix: no two
-- connections (or runs on one store) share a session.
--
-- Bounded: at most MAX_REQUESTS requests a thread (default 100,000; wrk's -d
-- bounds the time). done() prints the requests not answered 200, the events
-- not answered 201 inside the 200 answers, and the events/s answered 201
-- ("batch: ..." lines, which bench/ingest.sh reads).
local EVENTS = 100
local max_requests = tonumber(os.getenv("MAX_REQUESTS") or "") or 100000
local steps = {"checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"}
local input = '{"cart_id":"c_123","amount":42.5,"currency":"EUR"}'

local threads = {}
local next_id = 0
math.randomseed(os.time())
local run_prefix = tostring(os.time()) .. "_" .. tostring(math.random(1, 1000000))

setup = function(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  thread:set("prefix", run_prefix)
  table.insert(threads, thread)
end

-- per thread (each thread has a Lua state of its own; setup() gave it the
-- globals id and prefix)
local n = 0
bad_req, bad_ev, ok_ev, first_bad = 0, 0, 0, nil

init = function(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local parts = {}
request = function()
  if n >= max_requests then
    wrk.thread:stop()
  end
  local group, step = math.floor(n / 4), steps[(n % 4) + 1]
  n = n + 1
  local sid = '{"session_id":"h' .. prefix .. "_t" .. id .. "_b" .. group .. "_s"
  local rest = '","pipeline_type":"checkout_digital","step":"' .. step ..
    '","status":"success","input":' .. input .. '}'
  for i = 1, EVENTS do
    parts[i] = sid .. (i - 1) .. rest
  end
  local body = '{"events":[' .. table.concat(parts, ",") .. '],"auto_snapshot":false}'
  return wrk.format(nil, "/api/pipeline/track/batch", nil, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    bad_req = bad_req + 1
    if not first_bad then first_bad = status .. ": " .. string.sub(body or "", 1, 200) end
    return
  end
  local _, created = string.gsub(body, '{"status":201,', "")
  ok_ev = ok_ev + created
  if created ~= EVENTS then
    bad_ev = bad_ev + (EVENTS - created)
    if not first_bad then first_bad = "200 with " .. (EVENTS - created) .. " events not 201: " ..
      string.sub(body, 1, 300) end
  end
end

done = function(summary, latency, requests)
  local br, be, ok, first = 0, 0, 0, nil
  for _, t in ipairs(threads) do
    br = br + t:get("bad_req")
    be = be + t:get("bad_ev")
    ok = ok + t:get("ok_ev")
    first = first or t:get("first_bad")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("batch: %d requests, %d not answered 200, %d events not answered 201" ..
    " (socket errors: %d connect, %d read, %d write, %d timeout)\n", summary.requests, br, be,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  io.write(string.format("batch: %.0f events/s answered 201\n", ok / secs))
  if first then io.write("batch: first error: " .. first .. "\n") end
end
