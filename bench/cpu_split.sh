#!/usr/bin/env bash
# Where the CPU of one get-by-id goes: runs wrk against get-by-id on the 1M
# database that bench/run.sh seeded and reads utime+stime of the service and
# of all PostgreSQL processes from /proc before and after. Prints req/s and
# CPU microseconds per request for each. Usage: bench/cpu_split.sh [seconds]
set -euo pipefail
SECS="${1:-15}"
BIN="${CRM_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}/release/crm}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
PG_OPTS="${BENCH_PG_OPTIONS:-sslmode=disable}"
DB="${BENCH_DB:-crm_bench}"
PORT="${BENCH_PORT:-18082}"
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
BASE="http://127.0.0.1:$PORT"
IDS="$(mktemp)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$IDS"' EXIT
psql "$PG/$DB?$PG_OPTS" -XAtqc "SELECT id FROM customers ORDER BY random() LIMIT 1000" >"$IDS"
DATABASE_URL="$PG/$DB?$PG_OPTS" CRM_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
  CRM_JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789 "$BIN" serve >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$BASE/ready" && break; sleep 0.1; done
token=$(curl -sf -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"bench-password-not-secret"}' | jq -r .access_token)
export BENCH_DIR BENCH_TOKEN="$token" BENCH_IDS="$IDS"
wrk -t2 -c16 -d3s -s "$BENCH_DIR/get_by_id.lua" "$BASE" >/dev/null # warm-up
ticks() { # utime + stime of the given pids, in clock ticks
  local total=0 t
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
service0=$(ticks "$pid"); pg0=$(ticks $(pgrep postgres))
result=$(wrk -t2 -c16 -d"${SECS}s" --latency -s "$BENCH_DIR/get_by_id.lua" "$BASE" | grep BENCH_RESULT)
service1=$(ticks "$pid"); pg1=$(ticks $(pgrep postgres))
requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$result")
hz=$(getconf CLK_TCK)
echo "$result"
awk -v n="$requests" -v s=$((service1 - service0)) -v p=$((pg1 - pg0)) -v hz="$hz" 'BEGIN {
  printf "CPU per request: service %.0f us, PostgreSQL %.0f us\n", s * 1e6 / hz / n, p * 1e6 / hz / n }'
