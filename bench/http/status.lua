-- GET /api/pipeline/status. Without ETAGS: over SESSIONS stored four-event
-- sessions "p_<i>", picked at random, each answered 200. With ETAGS (a file
-- of "session etag" lines): those sessions with If-None-Match, answered 304.
local want, pick = 200, nil
if os.getenv("ETAGS") then
  local tags = {}
  for line in io.lines(os.getenv("ETAGS")) do
    local sid, tag = line:match("^(%S+) (.+)$")
    tags[#tags + 1] = {sid, {["If-None-Match"] = tag}}
  end
  want = 304
  local unpack = unpack or table.unpack -- wrk runs LuaJIT (Lua 5.1)
  pick = function() return unpack(tags[math.random(1, #tags)]) end
else
  local sessions = tonumber(os.getenv("SESSIONS") or "10000")
  pick = function() return "p_" .. math.random(0, sessions - 1), nil end
end
request = function()
  local sid, headers = pick()
  return wrk.format("GET", "/api/pipeline/status?session_id=" .. sid .. "&pipeline_type=checkout_digital", headers)
end
local bad = 0
response = function(status, headers, body)
  if status ~= want then
    bad = bad + 1
    if bad < 3 then io.stderr:write("status answered " .. status .. ", not " .. want .. "\n") end
  end
end
