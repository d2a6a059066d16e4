-- Shared by bench/login_flood.sh's wrk scripts: counts answers per HTTP
-- status across wrk's threads and prints them with the latency percentiles
-- on one line: FLOOD_RESULT requests=… rps=… p50_ms=… p99_ms=… max_ms=… statuses=200:…,429:…

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  counts = {}
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local statuses = {}
  for status, n in pairs(totals) do
    table.insert(statuses, string.format("%d:%d", status, n))
  end
  table.sort(statuses)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "FLOOD_RESULT requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f socket_errors=%d statuses=%s\n",
    summary.requests,
    summary.requests / seconds,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(statuses, ",")))
end
