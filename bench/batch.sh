#!/usr/bin/env bash
# Bulk-upsert benchmark of the release build (issue 8): an ERP-style sync job
# pushes new customers through POST /api/v1/customers/batch (1000 items per
# request, 2 requests in flight), resends them unchanged, pushes orders through
# POST /api/v1/orders/batch, then reads the change feed back and checks that
# every record has exactly one "created" event. In the same run, psql alone
# inserts the same customers as multi-row INSERT ... ON CONFLICT DO NOTHING,
# so the service can be compared with what PostgreSQL does on its own; and
# the service loads customers into a fresh SQLite file. Prints a Markdown table
# and writes it to bench/results/batch-<timestamp>.md. The HTTP driver is
# bench/batch_load.py (Python 3, standard library only).
#
#   bench/batch.sh                                # full run: 1M customers, 200k orders
#   BENCH_BATCH_ROWS=20000 BENCH_ORDER_ROWS=5000 BENCH_SQLITE_ROWS=10000 bench/batch.sh   # quick check
#   BENCH_PARTS=baseline bench/batch.sh           # only the psql baseline
#
# Settings (environment):
#   BENCH_PG                 server URL without database   (postgres://postgres@127.0.0.1:5432)
#   BENCH_PG_OPTIONS         connection options for all clients (sslmode=disable)
#   BENCH_BATCH_DB           database the service loads    (crm_batch_bench)
#   BENCH_BASELINE_DB        database psql alone loads     (crm_batch_bench_pg)
#   BENCH_BATCH_ROWS         customers loaded, resent, and inserted by psql (1000000)
#   BENCH_ORDER_ROWS         orders loaded, 5 items each   (200000)
#   BENCH_SQLITE_ROWS        customers loaded on SQLite     (200000)
#   BENCH_BATCH_SIZE         items per request and rows per INSERT (1000)
#   BENCH_BATCH_CONCURRENCY  requests in flight, and psql sessions (2)
#   BENCH_FEED_LIMIT         page size of the feed walk     (500)
#   BENCH_PARTS              which parts to run, comma-separated: service
#                            (PostgreSQL: load, resend, orders, feed), baseline
#                            (psql alone), sqlite           (service,baseline,sqlite)
#   BENCH_POOL_SIZE          CRM_DB_POOL_SIZE of the service (default: the service's own)
#   BENCH_PORT               port the service listens on     (18081)
#   BENCH_KEEP               1: keep the databases, the SQLite file and the work
#                            directory (driver output, generated SQL) (0)
#   CRM_BIN                  binary to run (default: $CARGO_TARGET_DIR/release/crm,
#                            built with `cargo build --release` if missing and
#                            the service is needed)
#
# Exits non-zero when any check failed (an answer other than 200 with every
# item as expected, a count that does not match, the feed check), after
# writing the report.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
cd "$ROOT"

PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
PG_OPTS="${BENCH_PG_OPTIONS:-sslmode=disable}"
DB="${BENCH_BATCH_DB:-crm_batch_bench}"
BASE_DB="${BENCH_BASELINE_DB:-crm_batch_bench_pg}"
ROWS="${BENCH_BATCH_ROWS:-1000000}"
ORDERS="${BENCH_ORDER_ROWS:-200000}"
SQLITE_ROWS="${BENCH_SQLITE_ROWS:-200000}"
BATCH="${BENCH_BATCH_SIZE:-1000}"
CONC="${BENCH_BATCH_CONCURRENCY:-2}"
FEED_LIMIT="${BENCH_FEED_LIMIT:-500}"
PARTS=",${BENCH_PARTS:-service,baseline,sqlite},"
POOL="${BENCH_POOL_SIZE:-}"
PORT="${BENCH_PORT:-18081}" # not run.sh's 18080, so a stray run.sh service is not measured
KEEP="${BENCH_KEEP:-0}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}"
BIN="${CRM_BIN:-$CARGO_TARGET_DIR/release/crm}"
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL="bench@example.com"
ADMIN_PASSWORD="bench-password-not-secret"
JWT_SECRET="bench-jwt-secret-0123456789abcdef0123456789"
DRIVER=(python3 "$BENCH_DIR/batch_load.py")

log() { printf '\n=== %s  %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }
psql_db() { local db="$1"; shift; psql "$PG/$db?$PG_OPTS" -X -v ON_ERROR_STOP=1 -q "$@"; }
part() { [[ "$PARTS" == *",$1,"* ]]; }
now() { date +%s.%N; }

for v in ROWS ORDERS SQLITE_ROWS BATCH CONC FEED_LIMIT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a whole number above 0 (got '${!v}')"
done
for p in ${PARTS//,/ }; do
  [[ "$p" =~ ^(service|baseline|sqlite)$ ]] || die "unknown part '$p' in BENCH_PARTS"
done

# --- tools ---------------------------------------------------------------
for tool in psql pg_isready curl jq python3; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' || die "python3 must be 3.8 or newer"
pg_isready -d "$PG/postgres" -q || die "PostgreSQL does not answer at $PG"
if part service || part sqlite; then
  if [[ ! -x "$BIN" ]]; then
    log "release binary missing: cargo build --release"
    cargo build --release --locked
  fi
  [[ -x "$BIN" ]] || die "no binary at $BIN"
  if curl -s -o /dev/null "$BASE/health"; then die "something already listens on port $PORT (set BENCH_PORT)"; fi
fi

WORK="$(mktemp -d /tmp/crm-batch.XXXXXX)"
SERVICE_PID=""
stop_service() {
  if [[ -n "$SERVICE_PID" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  SERVICE_PID=""
}
CREATED_DBS=()
cleanup() {
  stop_service
  if [[ "$KEEP" == 1 ]]; then
    echo "kept: databases ${CREATED_DBS[*]:-none}, work files in $WORK" >&2
    return
  fi
  for db in "${CREATED_DBS[@]}"; do
    psql_db postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fresh_db() { # db
  log "creating database $1"
  CREATED_DBS+=("$1")
  psql_db postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\"" >/dev/null
}

start_service() { # database-url log-name
  # A day-long token: a full run outlasts the default hour, and the feed walk
  # comes last.
  DATABASE_URL="$1" CRM_ADDR="127.0.0.1:$PORT" CRM_DB_POOL_SIZE="$POOL" \
    CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    CRM_JWT_SECRET="$JWT_SECRET" CRM_TOKEN_TTL_SECS=86400 RUST_LOG=warn \
    "$BIN" serve >>"$WORK/service-$2.log" 2>&1 &
  SERVICE_PID=$!
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$BASE/ready"; then return 0; fi
    kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$WORK/service-$2.log" >&2; die "the service exited"; }
    sleep 0.2
  done
  cat "$WORK/service-$2.log" >&2
  die "the service did not become ready"
}

login() {
  local token
  token="$(curl -sf -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token)"
  [[ -n "$token" && "$token" != null ]] || die "login failed"
  export BENCH_TOKEN="$token"
}

# A checkpoint before each timed step, so that none inherits the previous
# step's dirty pages; the service and psql alone start from the same state.
checkpoint() { psql_db postgres -c CHECKPOINT >/dev/null; }

# Result rows: key -> "label|database|rows|seconds|rows/s|p50|p99|peak RSS|check".
declare -A ROW
ORDER=()
FAILED=()
RAW="$WORK/raw.md"
: >"$RAW"
row() { ORDER+=("$1"); ROW[$1]="$2"; }
j() { jq -r "$1" "$2"; } # jq filter file
f0() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
f1() { awk -v x="$1" 'BEGIN { printf "%.1f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ok_word() { if [[ "$1" == true ]]; then echo ok; else echo "**FAILED**"; fi; }

# One load through the API: runs the driver, keeps its JSON, adds a row.
api_load() { # key label database resource rows expect [driver args...]
  local key="$1" label="$2" database="$3" resource="$4" rows="$5" expect="$6" out="$WORK/$1.json"
  shift 6
  log "$label: $rows $resource, $BATCH per request, $CONC in flight, expecting \"$expect\""
  checkpoint
  # A driver crash (say, the service went away) fails this step, not the run.
  if ! "${DRIVER[@]}" load --base "$BASE" --resource "$resource" --rows "$rows" --batch "$BATCH" \
    --concurrency "$CONC" --expect "$expect" --pid "$SERVICE_PID" "$@" >"$out"; then
    FAILED+=("$label ($database): the driver failed")
    row "$key" "$label|$database|$rows||||||**FAILED**: the driver failed (see its output above)"
    return
  fi
  jq -c . "$out" >&2
  [[ "$(j .ok "$out")" == true ]] || FAILED+=("$label ($database): $(j .bad_answers "$out") bad answers")
  row "$key" "$label|$database|$rows|$(f1 "$(j .seconds "$out")")|$(f0 "$(j .rows_per_s "$out")")|$(f1 "$(j .p50_ms "$out")")|$(f1 "$(j .p99_ms "$out")")|$(f0 "$(j .rss_peak_mb "$out")")|$(ok_word "$(j .ok "$out")"): $expect $(j ".$expect" "$out")/$rows"
  # The driver shares the CPUs with the service: say how much it took.
  NOTES+=("$label ($database): the driver used $(f1 "$(j .driver_cpu_s "$out")") s of CPU in $(f1 "$(j .seconds "$out")") s, $(f1 "$(j .generator_s "$out")") s of it building bodies; service RSS $(f0 "$(j .rss_start_mb "$out")") MB before, $(f0 "$(j .rss_end_mb "$out")") MB after")
  { printf '\n### %s (%s)\n\n```json\n' "$label" "$database"; jq . "$out"; printf '```\n'; } >>"$RAW"
}

STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
NOTES=()

# --- the service on PostgreSQL ----------------------------------------------
if part service; then
  fresh_db "$DB"
  start_service "$PG/$DB?$PG_OPTS" pg
  login
  api_load pg_new "customers, new" PostgreSQL customers "$ROWS" created --ids-out "$WORK/customer-ids.txt"
  api_load pg_resend "customers, resent unchanged" PostgreSQL customers "$ROWS" unchanged --ids-in "$WORK/customer-ids.txt"
  api_load pg_orders "orders, new ($((5 * ORDERS)) items)" PostgreSQL orders "$ORDERS" created \
    --customers "$ROWS" --ids-out "$WORK/order-ids.txt"

  log "feed check: walking GET /api/v1/events?limit=$FEED_LIMIT from the start"
  FEED="$WORK/feed.json"
  if "${DRIVER[@]}" feed --base "$BASE" --limit "$FEED_LIMIT" \
    --expect customers="$WORK/customer-ids.txt" --rows customers="$ROWS" \
    --expect orders="$WORK/order-ids.txt" --rows orders="$ORDERS" >"$FEED"; then
    jq -c . "$FEED" >&2
    [[ "$(j .ok "$FEED")" == true ]] || FAILED+=("feed check: $(jq -c '{customers, orders}' "$FEED")")
    row feed "feed walk, GET /events?limit=$FEED_LIMIT ($(j .events "$FEED") events, $(j .pages "$FEED") pages)|PostgreSQL|$(j .events "$FEED")|$(f1 "$(j .seconds "$FEED")")|$(f0 "$(j .events_per_s "$FEED")") events/s|||| $(ok_word "$(j .ok "$FEED")"): created events customers $(j .customers.created_events "$FEED")/$ROWS, orders $(j .orders.created_events "$FEED")/$ORDERS"
    { printf '\n### feed check\n\n```json\n'; jq . "$FEED"; printf '```\n'; } >>"$RAW"
  else
    FAILED+=("feed check: the walk failed")
    row feed "feed walk|PostgreSQL|||||||**FAILED**: the walk failed"
  fi
  stop_service
  SIZE_PG="$(psql_db "$DB" -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
  COUNTS_PG="$(psql_db "$DB" -At -F ' ' -c "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM events)")"
  read -r N_CUST N_EVENTS <<<"$COUNTS_PG"
  [[ "$N_CUST" == "$ROWS" ]] || FAILED+=("$DB holds $N_CUST customers, not $ROWS")
  NOTES+=("$DB after the run: $SIZE_PG, $N_CUST customers, $N_EVENTS events")
fi

# --- PostgreSQL alone ----------------------------------------------------------
if part baseline; then
  fresh_db "$BASE_DB"
  # The service's own migrations give the same schema (indexes included); a
  # checkout without a release binary falls back to the migration files.
  if [[ -x "$BIN" ]]; then
    DATABASE_URL="$PG/$BASE_DB?$PG_OPTS" RUST_LOG=warn "$BIN" migrate >/dev/null
    SCHEMA_FROM="\`crm migrate\`"
  else
    for f in migrations/postgres/*/up.sql; do psql_db "$BASE_DB" -f "$f" >/dev/null; done
    SCHEMA_FROM="migrations/postgres/*/up.sql applied with psql (no release binary)"
  fi
  log "generating the INSERT statements for $ROWS customers (not timed)"
  t0="$(now)"
  "${DRIVER[@]}" sql --rows "$ROWS" --batch "$BATCH" --sessions "$CONC" --out "$WORK/insert"
  t1="$(now)"
  SQL_MB="$(du -cm "$WORK"/insert.*.sql | tail -n1 | cut -f1)"
  NOTES+=("psql baseline: schema from $SCHEMA_FROM; $SQL_MB MB of SQL generated in $(f1 "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')") s, not timed")

  psql_run() { # key label expect-count
    local key="$1" label="$2" t0 t1 pids=() status=0 have secs
    log "psql alone, $label: $CONC sessions, $BATCH rows per INSERT"
    checkpoint
    t0="$(now)"
    for f in "$WORK"/insert.*.sql; do
      psql_db "$BASE_DB" -f "$f" >/dev/null &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || status=$?; done
    t1="$(now)"
    [[ "$status" == 0 ]] || die "psql failed during the $label baseline"
    secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    have="$(psql_db "$BASE_DB" -At -c "SELECT count(*) FROM customers")"
    local ok=true
    [[ "$have" == "$3" ]] || { ok=false; FAILED+=("$label baseline: $have customers, not $3"); }
    row "$key" "customers, $label: psql, INSERT ... ON CONFLICT (external_id) DO NOTHING|PostgreSQL alone|$ROWS|$(f1 "$secs")|$(f0 "$(awk -v s="$secs" -v n="$ROWS" 'BEGIN { print n / s }')")|||| $(ok_word $ok): $have customers in the table"
  }
  psql_run base_new "new" "$ROWS"
  psql_run base_resend "resent (all conflict)" "$ROWS"
fi

# --- the service on SQLite ---------------------------------------------------------
if part sqlite; then
  SQLITE_FILE="$WORK/batch-bench.db"
  log "service on a fresh SQLite file"
  start_service "$SQLITE_FILE" sqlite
  login
  api_load sqlite_new "customers, new" SQLite customers "$SQLITE_ROWS" created
  stop_service
  SQLITE_MB="$(du -cm "$SQLITE_FILE"* 2>/dev/null | tail -n1 | cut -f1 || true)"
  NOTES+=("SQLite file after the run: ${SQLITE_MB:-?} MB (with -wal and -shm)")
fi

# --- report --------------------------------------------------------------------
rps_of() { cut -d'|' -f5 <<<"${ROW[$1]:-}" | cut -d' ' -f1; }
RATIOS=()
if part service && part baseline; then
  RATIOS+=("service / psql alone, new customers: $(ratio "$(rps_of pg_new)" "$(rps_of base_new)")")
  RATIOS+=("service / psql alone, resent customers: $(ratio "$(rps_of pg_resend)" "$(rps_of base_resend)")")
fi
if part service && part sqlite; then
  RATIOS+=("SQLite / PostgreSQL, new customers through the service: $(ratio "$(rps_of sqlite_new)" "$(rps_of pg_new)") (on $SQLITE_ROWS and $ROWS rows)")
fi

TABLE="| Step | Database | Rows | Seconds | rows/s | p50 ms | p99 ms | peak RSS MB | Check |
|---|---|---:|---:|---:|---:|---:|---:|---|"
for key in "${ORDER[@]}"; do
  TABLE+="
| ${ROW[$key]//|/ | } |"
done

VERDICT="all checks passed"
if [[ ${#FAILED[@]} -gt 0 ]]; then VERDICT="$(printf '%s; ' "${FAILED[@]}")"; VERDICT="FAILED: ${VERDICT%; }"; fi
bullets() { local x; for x in "$@"; do printf -- '- %s\n' "$x"; done; }

REPORT="$(cat <<EOF
# Bulk-upsert benchmark $STARTED

- Commit checked out at run time: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- src migrations Cargo.toml Cargo.lock 2>/dev/null || echo ' (with uncommitted changes to the service)')$( [[ -x "$BIN" ]] && echo "; binary \`$BIN\` built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ) (it may predate the checkout: rebuild to measure the current code)")
- Machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load average at start: $LOAD_AT_START. The Python driver, psql, PostgreSQL and the service all share these CPUs.
- PostgreSQL: $(psql_db postgres -At -c "SHOW server_version") (shared_buffers $(psql_db postgres -At -c "SHOW shared_buffers"), synchronous_commit $(psql_db postgres -At -c "SHOW synchronous_commit")), on 127.0.0.1
- Service: RUST_LOG=warn, CRM_DB_POOL_SIZE=${POOL:-default}; $BATCH items per request, $CONC requests in flight (one keep-alive connection per driver thread); orders have 5 items each
- Parts run: ${PARTS:1:-1}

$TABLE

$(bullets "${RATIOS[@]}")

rows/s is rows sent divided by the wall time from the first request to the last answer.
p50/p99 are per request (one batch). Peak RSS is the service's VmRSS, sampled every 0.5 s.
A CHECKPOINT runs before each timed step.
Check: every answer 200 with the expected count (\`created\`, or \`unchanged\` for the resend, which
must also answer the ids of the first load); the feed check wants exactly one \`created\` event per
loaded customer and order, with ids equal to those the loads answered, and no other event about them.

$(bullets "${NOTES[@]}")

Result: $VERDICT

## Driver output
$(cat "$RAW")
EOF
)"

mkdir -p "$BENCH_DIR/results"
RESULT_FILE="$BENCH_DIR/results/batch-$STAMP.md"
printf '%s\n' "$REPORT" >"$RESULT_FILE"

printf '\n%s\n\n' "$TABLE"
bullets "${RATIOS[@]}" "${NOTES[@]}"
echo "$VERDICT"
echo "results written to ${RESULT_FILE#"$ROOT/"}"
[[ ${#FAILED[@]} -eq 0 ]]
