#!/usr/bin/env bash
# Alternating A/B of the filtered page on the 1M and 10k databases that
# bench/run.sh seeded: one run of each is within run-to-run noise (±10% on
# this 2-core machine), alternating rounds are not. Usage: bench/page_ab.sh [rounds]
set -euo pipefail
ROUNDS="${1:-3}"
BIN="${CRM_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}/release/crm}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
PG_OPTS="${BENCH_PG_OPTIONS:-sslmode=disable}"
PORT="${BENCH_PORT:-18081}"
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
URL="http://127.0.0.1:$PORT/api/v1/customers?lifecycle_stage=active&sort=-created_at&limit=50"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for db in "${BENCH_DB:-crm_bench}" "${BENCH_SMALL_DB:-crm_bench_small}"; do
    DATABASE_URL="$PG/$db?$PG_OPTS" CRM_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
      CRM_JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789 "$BIN" serve >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && break; sleep 0.1; done
    token=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
      -d '{"email":"bench@example.com","password":"bench-password-not-secret"}' | jq -r .access_token)
    BENCH_DIR="$BENCH_DIR" BENCH_TOKEN="$token" wrk -t2 -c16 -d3s -s "$BENCH_DIR/list.lua" "$URL" >/dev/null
    result=$(BENCH_DIR="$BENCH_DIR" BENCH_TOKEN="$token" wrk -t2 -c16 -d10s --latency -s "$BENCH_DIR/list.lua" "$URL" | grep BENCH_RESULT)
    echo "round $round $db $result"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done
