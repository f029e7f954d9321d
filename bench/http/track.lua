-- POST /api/pipeline/track: new four-event sessions, one step per request,
-- auto_snapshot on (as the original design's tracker does; AUTO_SNAPSHOT=false
-- in the environment turns it off).
local n = 0
local snap = os.getenv("AUTO_SNAPSHOT") == "false" and "false" or "true"
local prefix = "w" .. tostring(os.time()) .. "_" .. tostring(math.random(1, 1000000))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local steps = {"checkout_started", "payment_initiated", "payment_confirmed", "checkout_completed"}
request = function()
  local s = math.floor(n / 4)
  local step = steps[(n % 4) + 1]
  n = n + 1
  local body = '{"event":{"session_id":"' .. prefix .. "_" .. s .. '","pipeline_type":"checkout_digital",' ..
    '"step":"' .. step .. '","status":"success","input":{"amount":4200,"currency":"EUR"}},' ..
    '"auto_snapshot":' .. snap .. '}'
  return wrk.format(nil, "/api/pipeline/track", nil, body)
end
local bad = 0
response = function(status, headers, body)
  if status ~= 201 and status ~= 200 then
    bad = bad + 1
    if bad < 3 then io.stderr:write("track answered " .. status .. ": " .. body .. "\n") end
  end
end
