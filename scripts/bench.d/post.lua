-- wrk script: POSTs the request bodies of $BENCH_BODIES (one per line) in turn, with a bearer token,
-- and prints a JSON summary the bench script reads.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local token = io.open(os.getenv("BENCH_TOKEN")):read("*l")
local path = os.getenv("BENCH_PATH")
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
local counter = math.random(#bodies)

request = function()
  counter = counter % #bodies + 1
  return wrk.format("POST", path, headers, bodies[counter])
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"non_2xx":%d,"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
