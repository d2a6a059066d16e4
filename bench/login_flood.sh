#!/usr/bin/env bash
# The unauthenticated login flood of issue 9, against a release build on
# SQLite: FLOOD_CONNECTIONS concurrent wrong-password sign-ins for
# FLOOD_SECONDS while READ_CONNECTIONS callers read one customer with a
# valid token; then FLOOD_SETTLE seconds of quiet. Prints the service's
# resident memory (idle, peak, at the end of the flood, after the quiet), the
# status counts of both loads and the reads' p99. Two scenarios, each on a
# fresh service:
#
#   throttled  the default limits: one client address spraying new emails
#              (after 50 failures the address gets 429 without hashing);
#   hashing    the worst case for CPU and memory: the throttle raised out of
#              reach (as for a botnet of many addresses), so every attempt
#              needs a password hash.
#
#   bench/login_flood.sh                 # both scenarios
#   bench/login_flood.sh hashing         # one
#   CRM_BIN=/path/to/old/crm bench/login_flood.sh   # the same flood against another build
#
# Settings: FLOOD_CONNECTIONS (200), FLOOD_SECONDS (10), FLOOD_SETTLE (10),
# READ_CONNECTIONS (8), BENCH_PORT (18090), CRM_BIN (default
# $CARGO_TARGET_DIR/release/crm, built if missing). Needs wrk and curl.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
cd "$ROOT"

FLOOD_CONNECTIONS="${FLOOD_CONNECTIONS:-200}"
FLOOD_SECONDS="${FLOOD_SECONDS:-10}"
FLOOD_SETTLE="${FLOOD_SETTLE:-10}"
READ_CONNECTIONS="${READ_CONNECTIONS:-8}"
PORT="${BENCH_PORT:-18090}"
BASE="http://127.0.0.1:$PORT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}"
BIN="${CRM_BIN:-$CARGO_TARGET_DIR/release/crm}"
ADMIN_EMAIL="bench@example.com"
ADMIN_PASSWORD="bench-password-not-secret"
if [ $# -gt 0 ]; then SCENARIOS=("$@"); else SCENARIOS=(throttled hashing); fi

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
if [ -z "${CRM_BIN:-}" ]; then
  cargo build --release --locked --quiet
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crm-flood.XXXXXX")"
SERVICE_PID=""
SAMPLER_PID=""
cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  if [ -n "$SERVICE_PID" ]; then kill "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.0f", kb / 1024 }'; }
field() { sed -nE "s/.*[ ]$1=([^ ]+).*/\1/p" <<< "$2"; }

run_scenario() {
  local scenario="$1"
  local -a extra=()
  case "$scenario" in
    throttled) ;;
    hashing) extra=(CRM_LOGIN_MAX_FAILURES=1000000 CRM_LOGIN_MAX_FAILURES_PER_ADDRESS=1000000) ;;
    *) echo "unknown scenario $scenario (throttled, hashing)" >&2; exit 2 ;;
  esac
  rm -f "$WORK/crm.db"*
  env "${extra[@]}" DATABASE_URL="$WORK/crm.db" CRM_ADDR="127.0.0.1:$PORT" \
    CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" RUST_LOG=error \
    "$BIN" serve > "$WORK/service.log" 2>&1 &
  SERVICE_PID=$!
  for _ in $(seq 1 100); do curl -fs "$BASE/health" >/dev/null 2>&1 && break; sleep 0.1; done
  local token id
  token=$(curl -fs -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" \
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  id=$(curl -fs -X POST "$BASE/api/v1/customers" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"kind":"company","name":"Flood Test"}' \
    | sed -E 's/.*"id":"([^"]+)".*/\1/')
  sleep 1
  local idle
  idle=$(rss_kb "$SERVICE_PID")

  : > "$WORK/rss"
  ( while kill -0 "$SERVICE_PID" 2>/dev/null; do rss_kb "$SERVICE_PID" >> "$WORK/rss"; sleep 0.1; done ) &
  SAMPLER_PID=$!

  wrk -t1 -c"$FLOOD_CONNECTIONS" -d"${FLOOD_SECONDS}s" --timeout 10s \
    -s "$BENCH_DIR/login_flood.lua" "$BASE" > "$WORK/flood.out" 2>&1 &
  local flood=$!
  sleep 1
  BENCH_TOKEN="$token" READ_PATH="/api/v1/customers/$id" \
    wrk -t1 -c"$READ_CONNECTIONS" -d"$((FLOOD_SECONDS - 2))s" --timeout 10s --latency \
    -s "$BENCH_DIR/read_one.lua" "$BASE" > "$WORK/reads.out" 2>&1 &
  local reads=$!
  wait "$flood" || true
  wait "$reads" || true
  local end_of_flood
  end_of_flood=$(rss_kb "$SERVICE_PID")
  sleep "$FLOOD_SETTLE"
  local after
  after=$(rss_kb "$SERVICE_PID")
  kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
  local peak
  peak=$(sort -n "$WORK/rss" | tail -n1)
  kill "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true; SERVICE_PID=""

  local flood_line reads_line
  flood_line=$(grep FLOOD_RESULT "$WORK/flood.out" || echo "FLOOD_RESULT (none: $(tail -n2 "$WORK/flood.out" | tr '\n' ' '))")
  reads_line=$(grep FLOOD_RESULT "$WORK/reads.out" || echo "FLOOD_RESULT (none)")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$scenario" \
    "$(mb "$idle")" "$(mb "$peak")" "$(mb "$end_of_flood")" "$(mb "$after")" \
    "$(field statuses "$flood_line")" "$(field rps "$flood_line")" \
    "$(field statuses "$reads_line")" "$(field p99_ms "$reads_line")"
}

# read_one.lua and login_flood.lua load status_counts.lua from here.
export BENCH_DIR
printf '| scenario | idle MB | peak MB | end of flood MB | after %ss MB | login statuses | login req/s | read statuses | read p99 ms |\n' "$FLOOD_SETTLE"
printf '|---|---|---|---|---|---|---|---|---|\n'
for s in "${SCENARIOS[@]}"; do run_scenario "$s"; done
