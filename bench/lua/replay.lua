-- Replays requests from a file, one per line, each thread taking its own share:
--   METHOD <TAB> PATH <TAB> IDEMPOTENCY-KEY <TAB> AUTHORIZATION <TAB> BODY
-- (key, authorization and body may be empty). BENCH_REQUESTS names the file,
-- BENCH_AUTH the Authorization header value of requests without their own.
-- done() prints one JSON line the runner parses.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  local file = io.open(os.getenv("BENCH_REQUESTS"), "r")
  for line in file:lines() do
    local method, path, key, own, body =
      line:match("^(%u+)\t([^\t]+)\t([^\t]*)\t([^\t]*)\t(.*)$")
    table.insert(requests, {method, path, body, key, own})
  end
  file:close()
  step = tonumber(os.getenv("BENCH_THREADS"))
  index = id + 1
  auth = os.getenv("BENCH_AUTH")
  responses = 0
  bad = 0
end

function request()
  local item = requests[((index - 1) % #requests) + 1]
  index = index + step
  local headers = {}
  if item[5] ~= "" then
    headers["Authorization"] = item[5]
  elseif auth and auth ~= "" then
    headers["Authorization"] = auth
  end
  if item[3] ~= "" then headers["Content-Type"] = "application/json" end
  if item[4] ~= "" then headers["Idempotency-Key"] = item[4] end
  return wrk.format(item[1], item[2], headers, item[3] ~= "" and item[3] or nil)
end

function response(status, headers, body)
  responses = responses + 1
  if status >= 500 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local server_errors = 0
  for _, thread in ipairs(threads) do server_errors = server_errors + thread:get("bad") end
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "non_2xx": %d, "server_errors": %d, "socket_errors": %d, "p50_ms": %f, "p99_ms": %f}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status, server_errors,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
