-- Shared by the wrk scripts in bench/: the bearer token from BENCH_TOKEN and
-- one machine-readable summary line that bench/run.sh parses. wrk's own
-- --latency report (with its percentile table) is printed as well.

local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
  error("BENCH_TOKEN is not set")
end
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"

-- Give each wrk thread its own random sequence.
local thread_counter = 0
function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_no", thread_counter)
end

function seed_random()
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH_RESULT requests=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d avg_us=%.1f max_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests,
    summary.requests / seconds,
    latency:percentile(50),
    latency:percentile(90),
    latency:percentile(99),
    latency.mean,
    latency.max,
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
