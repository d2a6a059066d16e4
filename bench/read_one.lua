-- Authenticated reads of one customer (READ_PATH) with BENCH_TOKEN.
dofile(os.getenv("BENCH_DIR") .. "/status_counts.lua")
local token = os.getenv("BENCH_TOKEN")
local path = os.getenv("READ_PATH")

request = function()
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
