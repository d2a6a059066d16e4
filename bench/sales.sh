#!/usr/bin/env bash
# One-command benchmark of the sales half (issue 6, "Performance") on
# PostgreSQL, release build: `crm seed` makes N customers with a lead, an
# opportunity (with its stage history) and three activities each, then
#   - a filtered, sorted page of 50 opportunities on N and on 10,000 (wrk,
#     beside pgbench -M prepared running the same SQL on both);
#   - the first timeline page of a customer with 10,000 items and of one with 10;
#   - each sales report over the N opportunities, timed through HTTP and its
#     own SQL (read from the service's debug log, so it is the very same)
#     run alone by psql;
#   - lead conversion at 16 connections (wrk, distinct unconverted leads).
# Prints a Markdown table and writes it to bench/results/sales-<timestamp>.md.
#
#   bench/sales.sh                                   # full run: 1M customers
#   BENCH_REUSE=1 bench/sales.sh                     # keep databases already seeded to the right size
#   BENCH_CUSTOMERS=50000 BENCH_DURATION=5 BENCH_WARMUP=1 bench/sales.sh   # quick check
#
# Settings (environment): BENCH_PG (postgres://postgres@127.0.0.1:5432),
# BENCH_DB (crm_sales), BENCH_CUSTOMERS (1000000), BENCH_SMALL_DB
# (crm_sales_small), BENCH_SMALL_CUSTOMERS (10000), BENCH_REUSE (0),
# BENCH_DURATION (20), BENCH_WARMUP (5), BENCH_CONNECTIONS (16),
# BENCH_THREADS (2), BENCH_REPORT_RUNS (5), BENCH_PORT (18081), CRM_BIN.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
cd "$ROOT"

PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
PG_OPTS="sslmode=disable"
BIG_DB="${BENCH_DB:-crm_sales}"
BIG_N="${BENCH_CUSTOMERS:-1000000}"
SMALL_DB="${BENCH_SMALL_DB:-crm_sales_small}"
SMALL_N="${BENCH_SMALL_CUSTOMERS:-10000}"
REUSE="${BENCH_REUSE:-0}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-5}"
CONNS="${BENCH_CONNECTIONS:-16}"
THREADS="${BENCH_THREADS:-2}"
RUNS="${BENCH_REPORT_RUNS:-5}"
PORT="${BENCH_PORT:-18081}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}"
BIN="${CRM_BIN:-$CARGO_TARGET_DIR/release/crm}"
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL="bench@example.com"
ADMIN_PASSWORD="bench-password-not-secret"
JWT_SECRET="bench-jwt-secret-0123456789abcdef0123456789"
OPP_QUERY="status=open&sort=-created_at&limit=50"
OPP_SQL="SELECT * FROM opportunities WHERE status = 'open' ORDER BY created_at DESC, id DESC LIMIT 51;"

log() { printf '\n=== %s  %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }
psql_db() { local db="$1"; shift; psql "$PG/$db?$PG_OPTS" -X -v ON_ERROR_STOP=1 -q "$@"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

for tool in wrk jq curl; do
  command -v "$tool" >/dev/null || apt-get install -y "$tool" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$tool" >/dev/null; }
done
for tool in wrk pgbench psql curl jq python3; do command -v "$tool" >/dev/null || die "$tool is required"; done
pg_isready -d "$PG/postgres" -q || die "PostgreSQL does not answer at $PG"
if [[ ! -x "$BIN" ]]; then log "cargo build --release"; cargo build --release --locked; fi

WORK="$(mktemp -d /tmp/crm-sales-bench.XXXXXX)"
SERVICE_PID=""
stop_service() {
  if [[ -n "$SERVICE_PID" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  SERVICE_PID=""
}
cleanup() { stop_service; if [[ "${BENCH_KEEP_WORK:-0}" == 1 ]]; then echo "work files in $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if curl -s -o /dev/null "$BASE/health"; then die "something already listens on port $PORT (set BENCH_PORT)"; fi

start_service() { # db [rust_log]
  local db="$1" level="${2:-warn}"
  DATABASE_URL="$PG/$db?$PG_OPTS" CRM_ADDR="127.0.0.1:$PORT" \
    CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    CRM_JWT_SECRET="$JWT_SECRET" RUST_LOG="$level" \
    "$BIN" serve >>"$WORK/service-$db.log" 2>&1 &
  SERVICE_PID=$!
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$BASE/ready"; then return 0; fi
    kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$WORK/service-$db.log" >&2; die "the service exited"; }
    sleep 0.2
  done
  die "the service did not become ready"
}
login() {
  curl -sf -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token
}
api() { curl -sf -H "Authorization: Bearer $BENCH_TOKEN" -H 'Content-Type: application/json' "$@"; }

declare -A NOTE
prepare_db() { # db customers
  local db="$1" n="$2" have
  if [[ "$REUSE" == 1 ]]; then
    # Seeded opportunities only: earlier runs' conversions add their own.
    have="$(psql_db "$db" -At -c "SELECT count(*) FROM opportunities WHERE external_id LIKE 'SEED-OP-%'" 2>/dev/null || true)"
    if [[ "$have" == "$n" ]]; then
      log "reusing $db"; NOTE[$db]="reused"
      return
    fi
  fi
  log "creating and seeding $db with $n customers"
  psql_db postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" >/dev/null
  start_service "$db"; stop_service
  local t0 t1
  t0=$(date +%s.%N)
  DATABASE_URL="$PG/$db?$PG_OPTS" RUST_LOG=info "$BIN" seed --customers "$n" --tickets 0 --articles 0 2>&1 | tail -n 3 >&2
  t1=$(date +%s.%N)
  psql_db "$db" -c "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null
  NOTE[$db]="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "seeded in %.0f s", b - a }')"
}

STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"; STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
prepare_db "$SMALL_DB" "$SMALL_N"
prepare_db "$BIG_DB" "$BIG_N"
COUNTS="$(psql_db "$BIG_DB" -At -F' ' -c "SELECT (SELECT count(*) FROM opportunities), (SELECT count(*) FROM opportunity_stages), (SELECT count(*) FROM activities), (SELECT count(*) FROM leads)")"

declare -A RPS P50 P99 ERRS LOAD
field() { grep -o "$1=[^ ]*" | head -n1 | cut -d= -f2; }
run_wrk() { # key script url
  local key="$1" script="$2" url="$3" out="$WORK/wrk-$1.txt"
  export BENCH_DIR BENCH_THREADS="$THREADS"
  [[ "$WARMUP" -gt 0 && "$key" != convert ]] && wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$BENCH_DIR/$script" "$url" >/dev/null
  LOAD[$key]="$(load1)"
  log "wrk $key: $url"
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$BENCH_DIR/$script" "$url" >"$out"
  local line; line="$(grep '^BENCH_RESULT' "$out")" || die "no wrk result for $key"
  RPS[$key]="$(field rps <<<"$line")"; P50[$key]="$(field p50_us <<<"$line")"; P99[$key]="$(field p99_us <<<"$line")"
  ERRS[$key]="$(( $(field non2xx <<<"$line") + $(field socket_errors <<<"$line") ))"
}
run_pgbench() { # key db
  local key="$1" db="$2" out="$WORK/pgbench-$1.txt"
  echo "$OPP_SQL" >"$WORK/opp.sql"
  [[ "$WARMUP" -gt 0 ]] && pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$WARMUP" -f "$WORK/opp.sql" "$PG/$db?$PG_OPTS" >/dev/null 2>&1
  LOAD[$key]="$(load1)"
  log "pgbench $key on $db"
  pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$DURATION" -f "$WORK/opp.sql" "$PG/$db?$PG_OPTS" >"$out" 2>&1
  RPS[$key]="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")"
  P50[$key]=""; P99[$key]=""; ERRS[$key]="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")"
}

# --- opportunity page: PostgreSQL alone, then the service ------------------
run_pgbench pg_opps_big "$BIG_DB"
run_pgbench pg_opps_small "$SMALL_DB"
start_service "$SMALL_DB"; BENCH_TOKEN="$(login)"; export BENCH_TOKEN
run_wrk opps_small list.lua "$BASE/api/v1/opportunities?$OPP_QUERY"
stop_service

# --- the big database: timeline, reports, conversion ----------------------
start_service "$BIG_DB" "warn,crm::sql=debug"; BENCH_TOKEN="$(login)"; export BENCH_TOKEN
run_wrk opps_big list.lua "$BASE/api/v1/opportunities?$OPP_QUERY"

log "timeline customers: one with 10,000 items, one with 10"
T_BIG="$(api -X POST "$BASE/api/v1/customers" -d '{"kind":"company","name":"Timeline 10k"}' | jq -r .id)"
T_SMALL="$(api -X POST "$BASE/api/v1/customers" -d '{"kind":"company","name":"Timeline 10"}' | jq -r .id)"
psql_db "$BIG_DB" -c "
  INSERT INTO activities (id, kind, subject, occurred_at, due_sort, customer_id, search_text, created_at, updated_at)
  SELECT gen_random_uuid()::text, 'note', 'note ' || g, now() - g * interval '1 minute', '9999-12-31',
         c.id, 'note ' || g, now(), now()
  FROM (VALUES ('$T_BIG', 9999), ('$T_SMALL', 9)) AS c(id, n), generate_series(1, c.n) g;
  ANALYZE activities; ANALYZE events; ANALYZE contacts;" >/dev/null
for t in "$T_BIG" "$T_SMALL"; do
  n="$(api "$BASE/api/v1/customers/$t/timeline?limit=500" | jq '.data | length')"
  log "timeline of $t: first page holds $n items"
done
run_wrk timeline_10k list.lua "$BASE/api/v1/customers/$T_BIG/timeline?limit=50"
run_wrk timeline_10 list.lua "$BASE/api/v1/customers/$T_SMALL/timeline?limit=50"

# Each report: median of RUNS timed requests; its SQL (from the debug log of
# one request) run RUNS times by psql, median per statement, summed.
declare -A HTTP_MS SQL_MS
REPORTS=(pipeline "forecast?from=2026-01-01&to=2027-12-31&period=quarter" "win-rate?from=2024-01-01&to=2027-12-31" "lead-funnel?from=2023-01-01&to=2027-12-31&group_by=source")
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for r in "${REPORTS[@]}"; do
  key="${r%%\?*}"
  before="$(wc -l <"$WORK/service-$BIG_DB.log")"
  api -o "$WORK/report-$key.json" "$BASE/api/v1/reports/$r"
  tail -n +"$((before + 1))" "$WORK/service-$BIG_DB.log" | grep 'crm::sql' >"$WORK/sql-$key.log" || die "no SQL logged for $key"
  for _ in $(seq 1 "$RUNS"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $BENCH_TOKEN" "$BASE/api/v1/reports/$r"
  done | awk '{ print $1 * 1000 }' | median >"$WORK/http-$key.txt"
  HTTP_MS[$key]="$(cat "$WORK/http-$key.txt")"
  python3 - "$WORK/sql-$key.log" "$WORK/sql-$key" <<'PY'
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
for i, line in enumerate(lines):
    body = line.split("crm::sql] ", 1)[1]
    sql, binds = body.rsplit(" -- binds ", 1)
    binds = json.loads(binds)
    for n in range(len(binds), 0, -1):
        sql = re.sub(r"\$%d(?![0-9])" % n, "'" + binds[n - 1].replace("'", "''") + "'", sql)
    open(f"{sys.argv[2]}-{i}.sql", "w").write(sql + ";\n")
PY
  total=0
  for f in "$WORK/sql-$key"-*.sql; do
    m="$(for _ in $(seq 1 "$RUNS"); do
           psql_db "$BIG_DB" -c '\timing on' -f "$f" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n1
         done | median)"
    total="$(awk -v a="$total" -v b="$m" 'BEGIN { print a + b }')"
  done
  SQL_MS[$key]="$total"
  cp "$WORK/sql-$key"-*.sql "$WORK/" 2>/dev/null || true
done

log "sampling unconverted leads for the conversion run"
psql_db "$BIG_DB" -At -c "SELECT id FROM leads WHERE status <> 'converted' ORDER BY random() LIMIT 300000" >"$WORK/leads.txt"
export BENCH_IDS="$WORK/leads.txt"
run_wrk convert convert.lua "$BASE"
stop_service
CONVERTED="$(psql_db "$BIG_DB" -At -c "SELECT count(*) FROM leads WHERE converted_at > now() - interval '1 hour'")"

# --- report ------------------------------------------------------------------
ms() { [[ -z "$1" ]] && echo "" || awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ok() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' && echo "**met**" || echo "**not met**"; }
TABLE="| Scenario | Tool | req/s (tps) | p50 ms | p99 ms | errors | load1 before |
|---|---|---:|---:|---:|---:|---:|"
row() { TABLE+="
| $2 | $3 | $(printf '%.0f' "${RPS[$1]}") | $(ms "${P50[$1]}") | $(ms "${P99[$1]}") | ${ERRS[$1]:-0} | ${LOAD[$1]} |"; }
row opps_big "opportunities \`?$OPP_QUERY\`, $BIG_N" wrk
row opps_small "opportunities \`?$OPP_QUERY\`, $SMALL_N" wrk
row pg_opps_big "the same SQL, $BIG_N" "pgbench -M prepared"
row pg_opps_small "the same SQL, $SMALL_N" "pgbench -M prepared"
row timeline_10k "timeline first page, customer with 10,000 items" wrk
row timeline_10 "timeline first page, customer with 10 items" wrk
row convert "lead conversion (with an opportunity)" wrk
RTABLE="| Report | HTTP median ms | its SQL alone (psql) median ms | ratio | < 1 s |
|---|---:|---:|---:|---|"
for r in "${REPORTS[@]}"; do
  key="${r%%\?*}"
  RTABLE+="
| \`$r\` | ${HTTP_MS[$key]} | ${SQL_MS[$key]} | $(ratio "${HTTP_MS[$key]}" "${SQL_MS[$key]}") | $(ok 1000 "${HTTP_MS[$key]}") |"
done
REPORT="# Sales benchmark $STARTED

- Commit: $(git rev-parse --short HEAD)$(git diff --quiet -- src migrations 2>/dev/null || echo ' (uncommitted changes)'); binary built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)
- Machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $(psql_db postgres -At -c 'SHOW server_version'); everything on these CPUs
- $BIG_DB: $BIG_N customers (${NOTE[$BIG_DB]}); opportunities, stage visits, activities, leads: $COUNTS
- $SMALL_DB: $SMALL_N customers (${NOTE[$SMALL_DB]})
- Load: $CONNS connections, $THREADS threads, ${DURATION} s per scenario after ${WARMUP} s warm-up; reports: median of $RUNS

$TABLE

$RTABLE

| Target | Measured | Verdict |
|---|---|---|
| opportunity page on $BIG_N >= 80% of the rate on $SMALL_N | $(ratio "${RPS[opps_big]}" "${RPS[opps_small]}") (pgbench alone: $(ratio "${RPS[pg_opps_big]}" "${RPS[pg_opps_small]}")) | $(ok "$(ratio "${RPS[opps_big]}" "${RPS[opps_small]}")" 0.80) |
| timeline page, 10,000 items >= 80% of 10 items | $(ratio "${RPS[timeline_10k]}" "${RPS[timeline_10]}") | $(ok "$(ratio "${RPS[timeline_10k]}" "${RPS[timeline_10]}")" 0.80) |
| lead conversion at $CONNS connections | $(printf '%.0f' "${RPS[convert]}") conversions/s, p99 $(ms "${P99[convert]}") ms, ${ERRS[convert]} errors; $CONVERTED leads converted | reported |
"
mkdir -p "$BENCH_DIR/results"
printf '%s\n' "$REPORT" >"$BENCH_DIR/results/sales-$STAMP.md"
printf '%s\n' "$REPORT"
for f in "$WORK"/sql-*-0.sql; do echo "--- ${f##*/}"; cat "$f"; done >"$BENCH_DIR/results/sales-$STAMP.sql"
echo "results: bench/results/sales-$STAMP.md (report SQL in sales-$STAMP.sql)"
