-- wrk script of bench/serve.mjs: POSTs one fixed Open Inference Protocol v2 infer request over
-- every connection, back to back, and prints one JSON line of counts and latencies at the end.
--   TANDEM_WRK_BODY     file holding the request body (JSON, or the binary tensor data form)
--   TANDEM_WRK_PATH     request path, e.g. /v2/models/seed_mlp/infer
--   TANDEM_WRK_HEADERS  "Name: value" lines
-- Answers are counted by status; a 503 with Retry-After is counted apart ("503r", backpressure).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local f = assert(io.open(os.getenv("TANDEM_WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.path = os.getenv("TANDEM_WRK_PATH")
wrk.body = f:read("*a")
f:close()
for line in (os.getenv("TANDEM_WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  local key = tostring(status)
  if status == 503 and (headers["Retry-After"] or headers["retry-after"]) then key = "503r" end
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  local e = summary.errors
  io.write(string.format(
    '{"duration_us": %d, "requests": %d, "errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "statuses": {%s}}\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ", ")))
end
