#!/usr/bin/env bash
# One-command load benchmark of the release build on PostgreSQL (issue 2,
# "Performance"): wrk against get-by-id, a filtered and sorted page of 50 (on
# 1,000,000 and on 10,000 customers) and create, beside pgbench -M prepared
# running the same SQL at the same concurrency. Prints a Markdown table and
# writes it to bench/results/<timestamp>.md. See docs/performance.md.
#
#   bench/run.sh                                  # full run: fresh databases, 1M customers
#   BENCH_REUSE=1 bench/run.sh                    # reuse databases already seeded to the right count
#   BENCH_CUSTOMERS=50000 BENCH_DURATION=5 BENCH_WARMUP=2 bench/run.sh   # quick check
#
# Settings (environment):
#   BENCH_PG              server URL without database   (postgres://postgres@127.0.0.1:5432)
#   BENCH_PG_OPTIONS      connection options for all clients (sslmode=disable)
#   BENCH_DB              big database                  (crm_bench)
#   BENCH_CUSTOMERS       customers in BENCH_DB          (1000000)
#   BENCH_SMALL_DB        small database                (crm_bench_small)
#   BENCH_SMALL_CUSTOMERS customers in BENCH_SMALL_DB    (10000)
#   BENCH_REUSE           1: keep a database that already holds exactly the
#                         wanted number of customers; 0: always drop and seed (0)
#   BENCH_DURATION        seconds per measured scenario  (20)
#   BENCH_WARMUP          seconds of unmeasured warm-up before each (5)
#   BENCH_CONNECTIONS     concurrent connections, wrk and pgbench (16)
#   BENCH_THREADS         wrk and pgbench threads (-t / -j) (2)
#   BENCH_POOL_SIZE       CRM_DB_POOL_SIZE of the service (default: the service's own, 2 per core)
#   BENCH_SAMPLE          number of random existing ids used by get-by-id (1000)
#   BENCH_PORT            port the service listens on     (18080)
#   CRM_BIN               binary to run (default: $CARGO_TARGET_DIR/release/crm,
#                         built with `cargo build --release` if missing)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
cd "$ROOT"

PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
# Connection options for the service, pgbench and psql alike; TLS is off on loopback.
PG_OPTS="${BENCH_PG_OPTIONS:-sslmode=disable}"
BIG_DB="${BENCH_DB:-crm_bench}"
BIG_N="${BENCH_CUSTOMERS:-1000000}"
SMALL_DB="${BENCH_SMALL_DB:-crm_bench_small}"
SMALL_N="${BENCH_SMALL_CUSTOMERS:-10000}"
REUSE="${BENCH_REUSE:-0}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-5}"
CONNS="${BENCH_CONNECTIONS:-16}"
THREADS="${BENCH_THREADS:-2}"
POOL="${BENCH_POOL_SIZE:-}"
SAMPLE="${BENCH_SAMPLE:-1000}"
PORT="${BENCH_PORT:-18080}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}"
BIN="${CRM_BIN:-$CARGO_TARGET_DIR/release/crm}"
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL="bench@example.com"
ADMIN_PASSWORD="bench-password-not-secret"
JWT_SECRET="bench-jwt-secret-0123456789abcdef0123456789"
CREATE_MARK="wrk-bench-create" # the name create.lua gives its customers
LIST_QUERY="lifecycle_stage=active&sort=-created_at&limit=50"

log() { printf '\n=== %s  %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }
psql_db() { local db="$1"; shift; psql "$PG/$db?$PG_OPTS" -X -v ON_ERROR_STOP=1 -q "$@"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

[[ "$DURATION" =~ ^[0-9]+$ && "$WARMUP" =~ ^[0-9]+$ ]] || die "BENCH_DURATION and BENCH_WARMUP are whole seconds"

# --- tools ---------------------------------------------------------------
MISSING=()
for tool in wrk jq curl; do command -v "$tool" >/dev/null || MISSING+=("$tool"); done
if [[ ${#MISSING[@]} -gt 0 ]]; then
  log "installing ${MISSING[*]}"
  if ! apt-get install -y "${MISSING[@]}" >/dev/null 2>&1; then
    apt-get update >/dev/null && apt-get install -y "${MISSING[@]}" >/dev/null
  fi
fi
for tool in wrk pgbench psql curl jq; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install -y $tool)"
done
pg_isready -d "$PG/postgres" -q || die "PostgreSQL does not answer at $PG"
if [[ ! -x "$BIN" ]]; then
  log "release binary missing: cargo build --release"
  cargo build --release --locked
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

WORK="$(mktemp -d /tmp/crm-bench.XXXXXX)"
SERVICE_PID=""
stop_service() {
  if [[ -n "$SERVICE_PID" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  SERVICE_PID=""
}
cleanup() {
  stop_service
  if [[ "${BENCH_KEEP_WORK:-0}" == 1 ]]; then echo "work files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if curl -s -o /dev/null "$BASE/health"; then die "something already listens on port $PORT (set BENCH_PORT)"; fi

start_service() { # db
  local db="$1"
  DATABASE_URL="$PG/$db?$PG_OPTS" CRM_ADDR="127.0.0.1:$PORT" CRM_DB_POOL_SIZE="$POOL" \
    CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    CRM_JWT_SECRET="$JWT_SECRET" RUST_LOG=warn \
    "$BIN" serve >>"$WORK/service-$db.log" 2>&1 &
  SERVICE_PID=$!
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$BASE/ready"; then return 0; fi
    kill -0 "$SERVICE_PID" 2>/dev/null || { cat "$WORK/service-$db.log" >&2; die "the service exited"; }
    sleep 0.2
  done
  cat "$WORK/service-$db.log" >&2
  die "the service did not become ready"
}

login() {
  curl -sf -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token
}

count_customers() { # db -> count, or empty if the database or table is missing
  psql_db "$1" -At -c "SELECT count(*) FROM customers" 2>/dev/null || true
}

# Deletes what the create scenario added, so a reused database keeps its size.
remove_created() { # db
  # Fresh statistics first: with the post-seed ones (almost no events) the
  # planner picks a nested loop that takes minutes over tens of thousands of rows.
  psql_db "$1" -c "ANALYZE events" -c "ANALYZE customers" >/dev/null
  psql_db "$1" -c "
    DELETE FROM events WHERE resource = 'customers'
      AND record_id IN (SELECT id FROM customers WHERE name = '$CREATE_MARK');
    DELETE FROM customers WHERE name = '$CREATE_MARK';" >/dev/null
}

declare -A DATASET_NOTE
prepare_db() { # db customers
  local db="$1" n="$2" have
  if [[ "$REUSE" == 1 ]]; then
    remove_created "$db" 2>/dev/null || true
    have="$(count_customers "$db")"
    if [[ "$have" == "$n" ]]; then
      log "reusing $db ($n customers)"
      DATASET_NOTE[$db]="reused (already held $n customers)"
      psql_db "$db" -c "VACUUM (ANALYZE) customers" -c "VACUUM (ANALYZE) events" -c "CHECKPOINT" >/dev/null
      return
    fi
    log "$db holds '${have:-nothing}', not $n customers: seeding it afresh"
  fi
  log "creating database $db"
  psql_db postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" >/dev/null
  # A first start migrates and creates the admin, who then owns seeded customers.
  start_service "$db"
  stop_service
  log "seeding $db with $n customers"
  local t0 t1 t2
  t0=$(date +%s.%N)
  DATABASE_URL="$PG/$db?$PG_OPTS" RUST_LOG=info "$BIN" seed --customers "$n" --tickets 0 --articles 0 2>&1 | tee "$WORK/seed-$db.log" >&2
  t1=$(date +%s.%N)
  # Settle the freshly loaded tables now, so that neither autovacuum nor a
  # checkpoint lands in the middle of a measurement.
  psql_db "$db" -c "VACUUM (ANALYZE) customers" -c "VACUUM (ANALYZE) contacts" \
    -c "VACUUM (ANALYZE) record_tags" -c "CHECKPOINT" >/dev/null
  t2=$(date +%s.%N)
  DATASET_NOTE[$db]="$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "seeded in %.1f s (crm seed), then VACUUM ANALYZE + CHECKPOINT in %.1f s", b - a, c - b }')"
  [[ "$(count_customers "$db")" == "$n" ]] || die "$db does not hold $n customers after seeding"
}

# --- datasets ------------------------------------------------------------
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
prepare_db "$SMALL_DB" "$SMALL_N"
prepare_db "$BIG_DB" "$BIG_N"

log "sampling $SAMPLE random customer ids from $BIG_DB"
psql_db "$BIG_DB" -c "
  DROP TABLE IF EXISTS bench_ids;
  CREATE TABLE bench_ids (n integer PRIMARY KEY, id text NOT NULL);
  INSERT INTO bench_ids
    SELECT row_number() OVER (), id FROM (SELECT id FROM customers ORDER BY random() LIMIT $SAMPLE) s;
  ANALYZE bench_ids;" >/dev/null
psql_db "$BIG_DB" -At -c "SELECT id FROM bench_ids ORDER BY n" >"$WORK/ids.txt"
NIDS="$(wc -l <"$WORK/ids.txt")"
FIXED_ID="$(head -n1 "$WORK/ids.txt")"
[[ "$NIDS" -gt 0 ]] || die "no customer ids sampled"

# --- measurements ----------------------------------------------------------
declare -A RPS P50 P99 AVG ERRS LOAD
ORDER=()
RAW="$WORK/raw.md"
: >"$RAW"

record() { # key rps p50_us p99_us avg_us errors load
  ORDER+=("$1"); RPS[$1]="$2"; P50[$1]="$3"; P99[$1]="$4"; AVG[$1]="$5"; ERRS[$1]="$6"; LOAD[$1]="$7"
}

field() { grep -o "$1=[^ ]*" | head -n1 | cut -d= -f2; }

run_wrk() { # key script url
  local key="$1" script="$2" url="$3" out="$WORK/wrk-$1.txt" load
  export BENCH_DIR BENCH_IDS="$WORK/ids.txt"
  if [[ "$WARMUP" -gt 0 ]]; then
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$BENCH_DIR/$script" "$url" >/dev/null
  fi
  load="$(load1)"
  log "wrk $key: -t$THREADS -c$CONNS -d${DURATION}s --latency $url"
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$BENCH_DIR/$script" "$url" | tee "$out" >&2
  local line; line="$(grep '^BENCH_RESULT' "$out")" || die "wrk printed no result for $key"
  local non2xx socket
  non2xx="$(field non2xx <<<"$line")"; socket="$(field socket_errors <<<"$line")"
  record "$key" "$(field rps <<<"$line")" "$(field p50_us <<<"$line")" "$(field p99_us <<<"$line")" \
    "$(field avg_us <<<"$line")" "$((non2xx + socket))" "$load"
  [[ "$((non2xx + socket))" == 0 ]] || echo "WARNING: $key had $non2xx non-2xx answers and $socket socket errors" >&2
  { printf '\n### wrk: %s\n\n```\n' "$key"; cat "$out"; printf '```\n'; } >>"$RAW"
}

# Percentile (0-100) of the per-transaction latencies (µs, 3rd column) of a pgbench log.
log_pct() { # percent files...
  local p="$1"; shift
  cat "$@" | awk '{ print $3 }' | sort -n | awk -v p="$p" '
    { v[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; print v[i] }'
}

run_pgbench() { # key db script extra-args...
  local key="$1" db="$2" script="$3" out="$WORK/pgbench-$1.txt" load; shift 3
  if [[ "$WARMUP" -gt 0 ]]; then
    pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$WARMUP" "$@" -f "$BENCH_DIR/$script" "$PG/$db?$PG_OPTS" >/dev/null 2>&1
  fi
  load="$(load1)"
  log "pgbench $key: -M prepared -c $CONNS -j $THREADS -T $DURATION -f bench/$script ($db)"
  rm -f "$WORK/pgblog-$key".*
  pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$DURATION" "$@" -f "$BENCH_DIR/$script" \
    -l --log-prefix="$WORK/pgblog-$key" "$PG/$db?$PG_OPTS" 2>&1 | tee "$out" >&2
  local tps avg failed
  tps="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")"
  avg="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$out")"
  failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")"
  [[ -n "$tps" && -n "$avg" ]] || die "could not read pgbench's result for $key"
  record "$key" "$tps" "$(log_pct 50 "$WORK/pgblog-$key".*)" "$(log_pct 99 "$WORK/pgblog-$key".*)" \
    "$(awk -v a="$avg" 'BEGIN { print a * 1000 }')" "${failed:-0}" "$load"
  rm -f "$WORK/pgblog-$key".*
  { printf '\n### pgbench: %s\n\n```\n' "$key"; cat "$out"; printf '```\n'; } >>"$RAW"
}

# PostgreSQL alone first (the service is not running), then the service.
run_pgbench pg_get_by_id "$BIG_DB" pg_get_by_id.sql -D nids="$NIDS"
run_pgbench pg_get_by_id_fixed "$BIG_DB" pg_get_by_id_fixed.sql -D fixed_id="$FIXED_ID"
run_pgbench pg_list_big "$BIG_DB" pg_list.sql
run_pgbench pg_list_small "$SMALL_DB" pg_list.sql

log "service on $SMALL_DB"
start_service "$SMALL_DB"
BENCH_TOKEN="$(login)"; export BENCH_TOKEN
[[ -n "$BENCH_TOKEN" && "$BENCH_TOKEN" != null ]] || die "login failed"
run_wrk list_small list.lua "$BASE/api/v1/customers?$LIST_QUERY"
stop_service

log "service on $BIG_DB"
start_service "$BIG_DB"
BENCH_TOKEN="$(login)"; export BENCH_TOKEN
[[ -n "$BENCH_TOKEN" && "$BENCH_TOKEN" != null ]] || die "login failed"
curl -sf -o /dev/null -H "Authorization: Bearer $BENCH_TOKEN" "$BASE/api/v1/customers/$FIXED_ID" \
  || die "GET /api/v1/customers/$FIXED_ID failed"
run_wrk get_by_id get_by_id.lua "$BASE"
run_wrk list_big list.lua "$BASE/api/v1/customers?$LIST_QUERY"
run_wrk create create.lua "$BASE"
stop_service
CREATED="$(psql_db "$BIG_DB" -At -c "SELECT count(*) FROM customers WHERE name = '$CREATE_MARK'")"

# Query plans, for the record (after the runs, so they do not warm anything).
explain() { # db sql
  psql_db "$1" -At -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2"
}
PLAN_PK="$(explain "$BIG_DB" "SELECT * FROM customers WHERE id = '$FIXED_ID'")"
PLAN_PK_HELPER="$(explain "$BIG_DB" "SELECT * FROM customers WHERE id = (SELECT id FROM bench_ids WHERE n = 1)")"
PLAN_LIST_BIG="$(explain "$BIG_DB" "SELECT * FROM customers WHERE lifecycle_stage = 'active' ORDER BY created_at DESC, id DESC LIMIT 51")"
PLAN_LIST_SMALL="$(explain "$SMALL_DB" "SELECT * FROM customers WHERE lifecycle_stage = 'active' ORDER BY created_at DESC, id DESC LIMIT 51")"
SIZE_BIG="$(psql_db "$BIG_DB" -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
SIZE_SMALL="$(psql_db "$SMALL_DB" -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"

log "removing the $CREATED customers the create scenario added"
remove_created "$BIG_DB"
psql_db "$BIG_DB" -c "DROP TABLE IF EXISTS bench_ids" -c "VACUUM (ANALYZE) customers" -c "VACUUM (ANALYZE) events" >/dev/null

# --- report --------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
verdict() { if "$@"; then echo "**met**"; else echo "**not met**"; fi; }

declare -A LABEL=(
  [get_by_id]="get-by-id \`GET /api/v1/customers/{id}\` (random of $NIDS ids)|$BIG_N|wrk"
  [list_big]="filtered page \`GET /api/v1/customers?$LIST_QUERY\`|$BIG_N|wrk"
  [list_small]="filtered page \`GET /api/v1/customers?$LIST_QUERY\`|$SMALL_N|wrk"
  [create]="create \`POST /api/v1/customers\`|$BIG_N|wrk"
  [pg_get_by_id]="PK select, random of $NIDS ids (bench/pg_get_by_id.sql)|$BIG_N|pgbench -M prepared"
  [pg_get_by_id_fixed]="PK select, one fixed id (bench/pg_get_by_id_fixed.sql)|$BIG_N|pgbench -M prepared"
  [pg_list_big]="filtered page query, LIMIT 51 (bench/pg_list.sql)|$BIG_N|pgbench -M prepared"
  [pg_list_small]="filtered page query, LIMIT 51 (bench/pg_list.sql)|$SMALL_N|pgbench -M prepared"
)
TABLE="| Scenario | Customers | Tool | req/s (tps) | p50 ms | p99 ms | avg ms | errors | load1 before |
|---|---:|---|---:|---:|---:|---:|---:|---:|"
for key in get_by_id list_big list_small create pg_get_by_id pg_get_by_id_fixed pg_list_big pg_list_small; do
  IFS='|' read -r label customers tool <<<"${LABEL[$key]}"
  TABLE+="
| $label | $customers | $tool | $(printf '%.0f' "${RPS[$key]}") | $(ms "${P50[$key]}") | $(ms "${P99[$key]}") | $(ms "${AVG[$key]}") | ${ERRS[$key]} | ${LOAD[$key]} |"
done

R_GET="$(ratio "${RPS[get_by_id]}" "${RPS[pg_get_by_id]}")"
R_GET_FIXED="$(ratio "${RPS[get_by_id]}" "${RPS[pg_get_by_id_fixed]}")"
R_LIST="$(ratio "${RPS[list_big]}" "${RPS[list_small]}")"
R_PG_LIST="$(ratio "${RPS[pg_list_big]}" "${RPS[pg_list_small]}")"
P99_MAX_KEY=get_by_id
for key in list_big list_small create; do
  if ge "${P99[$key]}" "${P99[$P99_MAX_KEY]}"; then P99_MAX_KEY=$key; fi
done
p99_line() { # key
  local v; v="$(ms "${P99[$1]}")"
  echo "$v ms ($(verdict ge 10000 "${P99[$1]}"))"
}

REPORT="$(cat <<EOF
# Benchmark $STARTED

- Commit checked out at run time: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- src migrations Cargo.toml Cargo.lock 2>/dev/null || echo ' (with uncommitted changes to the service)'); binary built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ) (it may predate the checkout: rebuild to measure the current code)
- Machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load average at start: $LOAD_AT_START. wrk, pgbench, PostgreSQL and the service all run on these CPUs.
- PostgreSQL: $(psql_db postgres -At -c "SHOW server_version") (shared_buffers $(psql_db postgres -At -c "SHOW shared_buffers")), on 127.0.0.1
- Service: \`$BIN\`, RUST_LOG=warn, CRM_DB_POOL_SIZE=${POOL:-default (2 per core)}, default workers
- Load: $CONNS connections, $THREADS threads, ${DURATION} s per scenario after ${WARMUP} s of warm-up
- $BIG_DB: $BIG_N customers, $SIZE_BIG, ${DATASET_NOTE[$BIG_DB]}
- $SMALL_DB: $SMALL_N customers, $SIZE_SMALL, ${DATASET_NOTE[$SMALL_DB]}

$TABLE

Errors are non-2xx answers plus socket errors (wrk) or failed transactions (pgbench).
pgbench p50/p99 come from its per-transaction log (-l).

## Targets (issue 2)

| Target | Measured | Verdict |
|---|---|---|
| get-by-id >= 40% of pgbench -M prepared, same PK select, same concurrency | $R_GET of the random-id pgbench ($R_GET_FIXED of the fixed-id one) | $(verdict ge "$R_GET" 0.40) |
| p99 < 10 ms at $CONNS connections | get-by-id $(p99_line get_by_id); page on $BIG_N $(p99_line list_big); page on $SMALL_N $(p99_line list_small); create $(p99_line create) | $(verdict ge 10000 "${P99[$P99_MAX_KEY]}") |
| filtered page on $BIG_N no slower than on $SMALL_N (req/s ratio >= 0.90, i.e. within run-to-run noise) | $R_LIST (pgbench alone: $R_PG_LIST) | $(verdict ge "$R_LIST" 0.90) |

The create scenario added $CREATED customers, removed again after the run.

## Query plans (after the runs)

PK select on $BIG_DB:
\`\`\`
$PLAN_PK
\`\`\`

PK select through the helper table (as in bench/pg_get_by_id.sql):
\`\`\`
$PLAN_PK_HELPER
\`\`\`

Filtered page on $BIG_DB:
\`\`\`
$PLAN_LIST_BIG
\`\`\`

Filtered page on $SMALL_DB:
\`\`\`
$PLAN_LIST_SMALL
\`\`\`

## Raw output
$(cat "$RAW")
EOF
)"

mkdir -p "$BENCH_DIR/results"
RESULT_FILE="$BENCH_DIR/results/$STAMP.md"
printf '%s\n' "$REPORT" >"$RESULT_FILE"

printf '\n%s\n\n' "$TABLE"
cat <<EOF
get-by-id / pgbench PK select (random id): $R_GET   (fixed id: $R_GET_FIXED)   target >= 0.40: $(verdict ge "$R_GET" 0.40)
p99 < 10 ms: get-by-id $(p99_line get_by_id), list $BIG_N $(p99_line list_big), list $SMALL_N $(p99_line list_small), create $(p99_line create)
filtered page $BIG_N / $SMALL_N req/s: $R_LIST (pgbench: $R_PG_LIST)   target >= 0.90: $(verdict ge "$R_LIST" 0.90)
$BIG_DB: ${DATASET_NOTE[$BIG_DB]}
$SMALL_DB: ${DATASET_NOTE[$SMALL_DB]}
results written to ${RESULT_FILE#"$ROOT/"}
EOF
