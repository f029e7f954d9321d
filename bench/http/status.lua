-- GET /api/pipeline/status over SESSIONS stored four-event sessions "p_<i>",
-- picked at random.
local sessions = tonumber(os.getenv("SESSIONS") or "10000")
request = function()
  local i = math.random(0, sessions - 1)
  return wrk.format("GET", "/api/pipeline/status?session_id=p_" .. i .. "&pipeline_type=checkout_digital")
end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad < 3 then io.stderr:write("status answered " .. status .. "\n") end
  end
end
