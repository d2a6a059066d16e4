-- GET /api/v1/customers/{id} with ids drawn at random from the file named by
-- BENCH_IDS (one existing customer id a line, sampled by bench/run.sh).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
end
if #ids == 0 then error("no ids in " .. os.getenv("BENCH_IDS")) end

function init(args)
  seed_random()
end

function request()
  return wrk.format("GET", "/api/v1/customers/" .. ids[math.random(#ids)])
end
