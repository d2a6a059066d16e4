-- GET /api/v1/articles?q=…&limit=… rotating through the searches in
-- BENCH_QUERIES (comma-separated, each URL-encoded: "microvault+export"),
-- each wrk connection starting at its own place; authenticated.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local queries = {}
for q in string.gmatch(os.getenv("BENCH_QUERIES") or "", "[^,]+") do
  queries[#queries + 1] = q
end
if #queries == 0 then error("BENCH_QUERIES is empty") end
local limit = os.getenv("BENCH_SEARCH_LIMIT") or "10"
local next_index = 0

function init(args)
  next_index = (thread_no or 1) * 7
end

function request()
  next_index = next_index + 1
  local q = queries[(next_index % #queries) + 1]
  return wrk.format("GET", "/api/v1/articles?limit=" .. limit .. "&q=" .. q)
end
