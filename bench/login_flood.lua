-- Wrong-password sign-ins, no credentials needed: each request names a new
-- random email (FLOOD_EMAIL unset) or always the same one.
dofile(os.getenv("BENCH_DIR") .. "/status_counts.lua")
local fixed = os.getenv("FLOOD_EMAIL")

request = function()
  local email = fixed
  if email == nil or email == "" then
    email = string.format("nobody-%d-%d@example.com", math.random(1, 1e9), math.random(1, 1e9))
  end
  return wrk.format("POST", "/api/v1/auth/login",
    { ["Content-Type"] = "application/json" },
    string.format('{"email":"%s","password":"wrong-password"}', email))
end
