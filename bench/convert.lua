-- POST /api/v1/leads/{id}/convert, each wrk connection taking the next lead
-- of the file named by BENCH_IDS (unconverted leads, sampled by
-- bench/sales.sh), so no lead is converted twice.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
end
if #ids == 0 then error("no ids in " .. os.getenv("BENCH_IDS")) end

local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
local next_index = 0

function init(args)
  next_index = (thread_no or 1) - 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"opportunity":{"amount":250000}}'

function request()
  next_index = next_index + threads
  local id = ids[(next_index % #ids) + 1]
  return wrk.format("POST", "/api/v1/leads/" .. id .. "/convert")
end
