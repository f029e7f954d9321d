-- GET /api/pipeline/status with If-None-Match: the ETags of SESSIONS sessions
-- read from ETAGS (one "session etag" a line), picked at random.
local tags = {}
for line in io.lines(os.getenv("ETAGS")) do
  local sid, tag = line:match("^(%S+) (.+)$")
  tags[#tags + 1] = {sid, tag}
end
request = function()
  local t = tags[math.random(1, #tags)]
  return wrk.format("GET", "/api/pipeline/status?session_id=" .. t[1] .. "&pipeline_type=checkout_digital",
    {["If-None-Match"] = t[2]})
end
local bad = 0
response = function(status, headers, body)
  if status ~= 304 then
    bad = bad + 1
    if bad < 3 then io.stderr:write("status (304 run) answered " .. status .. "\n") end
  end
end
