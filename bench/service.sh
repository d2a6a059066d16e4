#!/usr/bin/env bash
# One-command benchmark of the service half (issue 7, "Performance") on
# PostgreSQL, release build: `crm seed` makes a big database (1,000,000
# tickets over 200,000 customers, with their comments, ratings and
# reopenings, and 100,000 knowledge-base articles) and a small one (10,000
# tickets), then measures
#   - an agent's queue (`assignee_id=…&status=open,pending&sort=sla_due`, the
#     agent with the most open and pending tickets) and the breach queue
#     (`sla_breached=true&sort=sla_due`) on both databases (wrk), beside
#     pgbench -M prepared running the same SQL (bench/pg_agent_queue.sql,
#     bench/pg_breach_queue.sql) on both; when the small database's agent has
#     fewer open tickets than a page, the big one is also measured with a page
#     of that many, and the 80% target is judged on those equal pages;
#   - article search over the articles (wrk, bench/search.lua rotating through
#     1- and 2-word searches of the seed's vocabulary, each checked to match
#     tens to a few hundred articles), beside pgbench running the service's
#     own search SQL for the same searches (read from its debug log);
#   - each service report over every ticket (`from` two years back, by
#     month), timed through HTTP and its own SQL (from the debug log) run
#     alone by psql; a report the service does not have yet is skipped.
# Prints a Markdown table and writes it to bench/results/service-<timestamp>.md,
# the SQL run and its EXPLAIN ANALYZE plans (big database) beside it.
#
#   bench/service.sh                     # full run: 1M tickets, 100k articles
#   BENCH_REUSE=1 bench/service.sh       # keep databases already seeded to the right size
#   BENCH_QUICK=1 bench/service.sh       # quick check: 50k tickets, short runs (a few minutes)
#
# Settings (environment): BENCH_PG (postgres://postgres@127.0.0.1:5432),
# BENCH_DB (crm_service), BENCH_CUSTOMERS (200000), BENCH_TICKETS (1000000),
# BENCH_ARTICLES (100000), BENCH_SMALL_DB (crm_service_small),
# BENCH_SMALL_CUSTOMERS (10000), BENCH_SMALL_TICKETS (10000),
# BENCH_SMALL_ARTICLES (1000), BENCH_REUSE (0), BENCH_DURATION (20),
# BENCH_WARMUP (5), BENCH_CONNECTIONS (16), BENCH_THREADS (2),
# BENCH_REPORT_RUNS (5), BENCH_QUEUE_LIMIT (50), BENCH_SEARCH_LIMIT (10),
# BENCH_SEARCHES (candidate searches, comma-separated; the ones matching
# BENCH_SEARCH_MIN to BENCH_SEARCH_MAX articles are used: 20 and 500),
# BENCH_PORT (18082), BENCH_QUICK (0), BENCH_SEED_ONLY (0: 1 seeds the databases
# and stops, to measure later with BENCH_REUSE=1), CRM_BIN.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
cd "$ROOT"

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
  : "${BENCH_CUSTOMERS:=20000}" "${BENCH_TICKETS:=50000}" "${BENCH_ARTICLES:=5000}"
  : "${BENCH_SMALL_CUSTOMERS:=2000}" "${BENCH_SMALL_TICKETS:=2000}" "${BENCH_SMALL_ARTICLES:=200}"
  : "${BENCH_DB:=crm_service_quick}" "${BENCH_SMALL_DB:=crm_service_quick_small}"
  : "${BENCH_DURATION:=3}" "${BENCH_WARMUP:=1}" "${BENCH_REPORT_RUNS:=2}" "${BENCH_SEARCH_MIN:=3}"
fi
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
PG_OPTS="sslmode=disable"
BIG_DB="${BENCH_DB:-crm_service}"
BIG_C="${BENCH_CUSTOMERS:-200000}"
BIG_T="${BENCH_TICKETS:-1000000}"
BIG_A="${BENCH_ARTICLES:-100000}"
SMALL_DB="${BENCH_SMALL_DB:-crm_service_small}"
SMALL_C="${BENCH_SMALL_CUSTOMERS:-10000}"
SMALL_T="${BENCH_SMALL_TICKETS:-10000}"
SMALL_A="${BENCH_SMALL_ARTICLES:-1000}"
REUSE="${BENCH_REUSE:-0}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-5}"
CONNS="${BENCH_CONNECTIONS:-16}"
THREADS="${BENCH_THREADS:-2}"
RUNS="${BENCH_REPORT_RUNS:-5}"
QUEUE_LIMIT="${BENCH_QUEUE_LIMIT:-50}"
SEARCH_LIMIT="${BENCH_SEARCH_LIMIT:-10}"
SEARCH_MIN="${BENCH_SEARCH_MIN:-20}"
SEARCH_MAX="${BENCH_SEARCH_MAX:-500}"
# Feature names and product words of the seed's vocabulary (src/seed/text.rs).
SEARCHES="${BENCH_SEARCHES:-microvault,hypergate,autoledger,telebeacon,omniprism,neoforge,crossrelay,superquill,polyorbit,metaradar,hyperledger export,autosync invoice,microvault webhook,teleledger permission,omniharbor refund,ultragauge report,cotide template,smartlattice password,coforge dashboard,prespark subscription,neorail duplicate,subglyph timeout,interwire mismatch,superdial archive,multilens token}"
PORT="${BENCH_PORT:-18082}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}"
BIN="${CRM_BIN:-$CARGO_TARGET_DIR/release/crm}"
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL="bench@example.com"
ADMIN_PASSWORD="bench-password-not-secret"
JWT_SECRET="bench-jwt-secret-0123456789abcdef0123456789"

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

WORK="$(mktemp -d /tmp/crm-service-bench.XXXXXX)"
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
prepare_db() { # db customers tickets articles
  local db="$1" c="$2" t="$3" a="$4" have
  if [[ "$REUSE" == 1 ]]; then
    have="$(psql_db "$db" -At -c "SELECT (SELECT count(*) FROM tickets WHERE external_id LIKE 'SEED-T-%') || ' ' || (SELECT count(*) FROM articles)" 2>/dev/null || true)"
    if [[ "$have" == "$t $a" ]]; then
      log "reusing $db (with the binary's pending migrations applied)"; NOTE[$db]="reused"
      DATABASE_URL="$PG/$db?$PG_OPTS" RUST_LOG=warn "$BIN" migrate >/dev/null
      # A migration that rewrote rows clears pages from the visibility map:
      # vacuumed, the reports stay index-only scans.
      psql_db "$db" -c "VACUUM (ANALYZE)" >/dev/null
      return
    fi
  fi
  log "creating and seeding $db: $c customers, $t tickets, $a articles"
  psql_db postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" >/dev/null
  # The first start creates the bench admin.
  start_service "$db"; stop_service
  local t0 t1 t2
  t0=$(date +%s.%N)
  DATABASE_URL="$PG/$db?$PG_OPTS" RUST_LOG=info "$BIN" seed --customers "$c" --tickets "$t" --articles "$a" 2>&1 | tee "$WORK/seed-$db.log" | tail -n 4 >&2
  t1=$(date +%s.%N)
  psql_db "$db" -c "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null
  t2=$(date +%s.%N)
  NOTE[$db]="$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "seeded in %.0f s, then VACUUM ANALYZE in %.0f s", b - a, c - b }')"
}

STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"; STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
prepare_db "$SMALL_DB" "$SMALL_C" "$SMALL_T" "$SMALL_A"
prepare_db "$BIG_DB" "$BIG_C" "$BIG_T" "$BIG_A"
if [[ "${BENCH_SEED_ONLY:-0}" == 1 ]]; then log "seeded (BENCH_SEED_ONLY=1): ${NOTE[$SMALL_DB]}; ${NOTE[$BIG_DB]}"; exit 0; fi
counts() { # db
  psql_db "$1" -At -F' ' -c "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM ticket_comments),
    (SELECT count(*) FROM ticket_ratings), (SELECT count(*) FROM ticket_reopens), (SELECT count(*) FROM articles),
    (SELECT pg_size_pretty(pg_database_size(current_database())))"
}
statuses() { # db
  psql_db "$1" -At -c "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) AS n FROM tickets GROUP BY status) s"
}
breached() { # db
  psql_db "$1" -At -c "SELECT count(*) FILTER (WHERE sla_due_sort < (now() AT TIME ZONE 'UTC') OR sla_missed) FROM tickets"
}
BIG_COUNTS="$(counts "$BIG_DB")"; SMALL_COUNTS="$(counts "$SMALL_DB")"
BIG_STATUS="$(statuses "$BIG_DB")"; SMALL_STATUS="$(statuses "$SMALL_DB")"
BIG_BREACHED="$(breached "$BIG_DB")"; SMALL_BREACHED="$(breached "$SMALL_DB")"

# The agent of each database with the most open and pending tickets.
declare -A AGENT AGENT_OPEN
for db in "$BIG_DB" "$SMALL_DB"; do
  read -r agent open < <(psql_db "$db" -At -F' ' -c "
    SELECT assignee_id, count(*) FROM tickets WHERE status IN ('open', 'pending') AND assignee_id IS NOT NULL
    GROUP BY assignee_id ORDER BY count(*) DESC, assignee_id LIMIT 1") || true
  [[ -n "${agent:-}" ]] || die "no agent has open tickets in $db"
  AGENT[$db]="$agent"; AGENT_OPEN[$db]="$open"
done

declare -A RPS P50 P99 ERRS LOAD ROWS
field() { grep -o "$1=[^ ]*" | head -n1 | cut -d= -f2; }
run_wrk() { # key script url
  local key="$1" script="$2" url="$3" out="$WORK/wrk-$1.txt"
  export BENCH_DIR BENCH_THREADS="$THREADS"
  [[ "$WARMUP" -gt 0 ]] && wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$BENCH_DIR/$script" "$url" >/dev/null
  LOAD[$key]="$(load1)"
  log "wrk $key: $url"
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$BENCH_DIR/$script" "$url" >"$out"
  local line; line="$(grep '^BENCH_RESULT' "$out")" || die "no wrk result for $key"
  RPS[$key]="$(field rps <<<"$line")"; P50[$key]="$(field p50_us <<<"$line")"; P99[$key]="$(field p99_us <<<"$line")"
  ERRS[$key]="$(( $(field non2xx <<<"$line") + $(field socket_errors <<<"$line") ))"
}
run_pgbench() { # key db pgbench-args…
  local key="$1" db="$2" out="$WORK/pgbench-$1.txt"; shift 2
  [[ "$WARMUP" -gt 0 ]] && pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$WARMUP" "$@" "$PG/$db?$PG_OPTS" >/dev/null 2>&1
  LOAD[$key]="$(load1)"
  log "pgbench $key on $db"
  pgbench -n -M prepared -c "$CONNS" -j "$THREADS" -T "$DURATION" -r "$@" "$PG/$db?$PG_OPTS" >"$out" 2>&1 || { cat "$out" >&2; die "pgbench $key failed"; }
  RPS[$key]="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")"
  P50[$key]=""; P99[$key]=""; ERRS[$key]="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")"
}
rows_of() { api "$1" | jq '.data | length'; }
# A queue's SQL with its page size written in (as the service's own, planned
# for its parameters each time, knows it), the agent a pgbench parameter.
queue_sql() { # file rows
  local out="$WORK/${1##*/}"; out="${out%.sql}-$2.sql"
  sed -e "s/:rows/$2/" "$1" >"$out"; echo "$out"
}

# --- queues: PostgreSQL alone on both databases, then the service ----------
queue_url() { echo "$BASE/api/v1/tickets?assignee_id=$1&status=open,pending&sort=sla_due&limit=$2"; }
BREACH_URL="$BASE/api/v1/tickets?sla_breached=true&sort=sla_due&limit=$QUEUE_LIMIT"
for size in big small; do
  if [[ $size == big ]]; then db="$BIG_DB"; else db="$SMALL_DB"; fi
  run_pgbench "pg_agent_$size" "$db" -f "$(queue_sql "$BENCH_DIR/pg_agent_queue.sql" "$((QUEUE_LIMIT + 1))")" -D agent="${AGENT[$db]}"
  run_pgbench "pg_breach_$size" "$db" -f "$(queue_sql "$BENCH_DIR/pg_breach_queue.sql" "$((QUEUE_LIMIT + 1))")"
done
start_service "$SMALL_DB"; BENCH_TOKEN="$(login)"; export BENCH_TOKEN
ROWS[agent_small]="$(rows_of "$(queue_url "${AGENT[$SMALL_DB]}" "$QUEUE_LIMIT")")"
ROWS[breach_small]="$(rows_of "$BREACH_URL")"
run_wrk agent_small list.lua "$(queue_url "${AGENT[$SMALL_DB]}" "$QUEUE_LIMIT")"
run_wrk breach_small list.lua "$BREACH_URL"
stop_service

# --- the big database: queues, search, reports ----------------------------
start_service "$BIG_DB" "warn,crm::sql=debug"; BENCH_TOKEN="$(login)"; export BENCH_TOKEN
ROWS[agent_big]="$(rows_of "$(queue_url "${AGENT[$BIG_DB]}" "$QUEUE_LIMIT")")"
ROWS[breach_big]="$(rows_of "$BREACH_URL")"
run_wrk agent_big list.lua "$(queue_url "${AGENT[$BIG_DB]}" "$QUEUE_LIMIT")"
run_wrk breach_big list.lua "$BREACH_URL"
# The small database's agent has fewer open tickets than a page: the same
# number of rows from the big one as well, so the pages are alike.
SAME=""
if [[ "${ROWS[agent_small]}" -lt "${ROWS[agent_big]}" && "${ROWS[agent_small]}" -gt 0 ]]; then
  SAME="${ROWS[agent_small]}"
  ROWS[agent_big_same]="$(rows_of "$(queue_url "${AGENT[$BIG_DB]}" "$SAME")")"
  run_wrk agent_big_same list.lua "$(queue_url "${AGENT[$BIG_DB]}" "$SAME")"
  run_pgbench pg_agent_big_same "$BIG_DB" -f "$(queue_sql "$BENCH_DIR/pg_agent_queue.sql" "$((SAME + 1))")" -D agent="${AGENT[$BIG_DB]}"
fi

# Searches: the candidates matching SEARCH_MIN to SEARCH_MAX articles.
log "choosing searches"
QUERIES=(); declare -A MATCHES
IFS=',' read -r -a CANDIDATES <<<"$SEARCHES"
for q in "${CANDIDATES[@]}"; do
  tsq="$(sed 's/ \+/ \& /g' <<<"$q")"
  n="$(psql_db "$BIG_DB" -At -c "SELECT count(*) FROM articles WHERE search_vector @@ to_tsquery('english', '$tsq')")"
  MATCHES[$q]="$n"
  if [[ "$n" -ge "$SEARCH_MIN" && "$n" -le "$SEARCH_MAX" ]]; then QUERIES+=("$q"); fi
done
[[ "${#QUERIES[@]}" -gt 0 ]] || die "no search matches $SEARCH_MIN to $SEARCH_MAX articles: $(for q in "${CANDIDATES[@]}"; do printf '%s=%s ' "$q" "${MATCHES[$q]}"; done)"
SEARCH_NOTE="$(for q in "${QUERIES[@]}"; do printf '`%s` %s, ' "$q" "${MATCHES[$q]}"; done)"; SEARCH_NOTE="${SEARCH_NOTE%, }"
# The service's own SQL of each search, from its debug log.
extract_sql() { # log-file prefix
  python3 - "$1" "$2" <<'PY'
import json, re, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if "crm::sql] " in l]
for i, line in enumerate(lines):
    body = line.split("crm::sql] ", 1)[1]
    sql, binds = body.rsplit(" -- binds ", 1)
    binds = json.loads(binds)
    for n in range(len(binds), 0, -1):
        sql = re.sub(r"\$%d(?![0-9])" % n, "'" + binds[n - 1].replace("'", "''") + "'", sql)
    open(f"{sys.argv[2]}-{i}.sql", "w").write(sql + ";\n")
PY
}
PGB_SEARCH=(); URL_QUERIES=()
for k in "${!QUERIES[@]}"; do
  q="${QUERIES[$k]}"; enc="${q// /+}"; URL_QUERIES+=("$enc")
  before="$(wc -l <"$WORK/service-$BIG_DB.log")"
  api -o /dev/null "$BASE/api/v1/articles?limit=$SEARCH_LIMIT&q=$enc"
  tail -n +"$((before + 1))" "$WORK/service-$BIG_DB.log" >"$WORK/sql-search-$k.log"
  extract_sql "$WORK/sql-search-$k.log" "$WORK/search-$k"
  [[ -f "$WORK/search-$k-0.sql" ]] || die "no SQL logged for the search $q"
  PGB_SEARCH+=(-f "$WORK/search-$k-0.sql")
done
BENCH_QUERIES="$(IFS=,; echo "${URL_QUERIES[*]}")"; export BENCH_QUERIES BENCH_SEARCH_LIMIT="$SEARCH_LIMIT"
run_wrk search search.lua "$BASE"
run_pgbench pg_search "$BIG_DB" "${PGB_SEARCH[@]}"

# Each report: median of RUNS timed requests; its SQL (from the debug log of
# one request) run RUNS times by psql, median per statement, summed.
declare -A HTTP_MS SQL_MS SKIPPED
FROM="$(date -u -d '-730 days' +%F)"; TO="$(date -u +%F)"
REPORTS=("tickets?from=$FROM&to=$TO&group_by=month" "response-times?from=$FROM&to=$TO&group_by=month" "satisfaction?from=$FROM&to=$TO&group_by=month")
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for r in "${REPORTS[@]}"; do
  key="${r%%\?*}"
  code="$(curl -s -o "$WORK/report-$key.json" -w '%{http_code}' -H "Authorization: Bearer $BENCH_TOKEN" "$BASE/api/v1/reports/$r")"
  if [[ "$code" != 200 ]]; then
    log "report $key answers $code: skipped"; SKIPPED[$key]="$code"; continue
  fi
  before="$(wc -l <"$WORK/service-$BIG_DB.log")"
  api -o "$WORK/report-$key.json" "$BASE/api/v1/reports/$r"
  tail -n +"$((before + 1))" "$WORK/service-$BIG_DB.log" >"$WORK/sql-$key.log"
  extract_sql "$WORK/sql-$key.log" "$WORK/report-$key"
  ls "$WORK/report-$key"-*.sql >/dev/null 2>&1 || die "no SQL logged for $key"
  for _ in $(seq 1 "$RUNS"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $BENCH_TOKEN" "$BASE/api/v1/reports/$r"
  done | awk '{ print $1 * 1000 }' | median >"$WORK/http-$key.txt"
  HTTP_MS[$key]="$(awk '{ printf "%.1f", $1 }' "$WORK/http-$key.txt")"
  total=0
  for f in "$WORK/report-$key"-*.sql; do
    m="$(for _ in $(seq 1 "$RUNS"); do
           psql_db "$BIG_DB" -c '\timing on' -f "$f" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n1
         done | median)"
    total="$(awk -v a="$total" -v b="$m" 'BEGIN { print a + b }')"
  done
  SQL_MS[$key]="$(awk -v t="$total" 'BEGIN { printf "%.1f", t }')"
done
stop_service

# The plans of what ran, on the big database.
PLANS="$WORK/plans.txt"
{
  explain() { # title sql
    echo "--- $1"; echo "$2"
    psql_db "$BIG_DB" -c "EXPLAIN (ANALYZE, BUFFERS) $2" 2>&1
  }
  agent_sql="$(sed -e '/^--/d' -e "s/:agent/'${AGENT[$BIG_DB]}'/" -e "s/:rows/$((QUEUE_LIMIT + 1))/" "$BENCH_DIR/pg_agent_queue.sql")"
  breach_sql="$(sed -e '/^--/d' -e "s/:rows/$((QUEUE_LIMIT + 1))/" "$BENCH_DIR/pg_breach_queue.sql")"
  explain "agent queue" "${agent_sql%;}"
  explain "breach queue" "${breach_sql%;}"
  for k in "${!QUERIES[@]}"; do sql="$(cat "$WORK/search-$k-0.sql")"; explain "search ${QUERIES[$k]}" "${sql%;}"; done
  for f in "$WORK"/report-*-[0-9]*.sql; do [[ -f "$f" ]] || continue; sql="$(cat "$f")"; explain "${f##*/}" "${sql%;}"; done
} >"$PLANS"

# --- report ------------------------------------------------------------------
ms() { [[ -z "$1" ]] && echo "" || awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ok() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' && echo "**met**" || echo "**not met**"; }
TABLE="| Scenario | Tool | rows | req/s (tps) | p50 ms | p99 ms | errors | load1 before |
|---|---|---:|---:|---:|---:|---:|---:|"
row() { TABLE+="
| $2 | $3 | ${ROWS[$1]:-} | $(printf '%.0f' "${RPS[$1]}") | $(ms "${P50[$1]}") | $(ms "${P99[$1]}") | ${ERRS[$1]:-0} | ${LOAD[$1]} |"; }
row agent_big "agent queue, $BIG_T tickets (agent with ${AGENT_OPEN[$BIG_DB]} open/pending)" wrk
row agent_small "agent queue, $SMALL_T tickets (agent with ${AGENT_OPEN[$SMALL_DB]} open/pending)" wrk
[[ -n "$SAME" ]] && row agent_big_same "agent queue, $BIG_T tickets, limit=$SAME (the small page's rows)" wrk
row pg_agent_big "its SQL, $BIG_T tickets" "pgbench -M prepared"
row pg_agent_small "its SQL, $SMALL_T tickets" "pgbench -M prepared"
[[ -n "$SAME" ]] && row pg_agent_big_same "its SQL, $BIG_T tickets, LIMIT $((SAME + 1))" "pgbench -M prepared"
row breach_big "breach queue, $BIG_T tickets ($BIG_BREACHED breached)" wrk
row breach_small "breach queue, $SMALL_T tickets ($SMALL_BREACHED breached)" wrk
row pg_breach_big "its SQL, $BIG_T tickets" "pgbench -M prepared"
row pg_breach_small "its SQL, $SMALL_T tickets" "pgbench -M prepared"
row search "article search, $BIG_A articles, limit=$SEARCH_LIMIT" wrk
row pg_search "the service's search SQL, same searches" "pgbench -M prepared"
RTABLE="| Report (from $FROM to $TO, by month) | HTTP median ms | its SQL alone (psql) median ms | ratio | within 2x | < 1 s |
|---|---:|---:|---:|---|---|"
for r in "${REPORTS[@]}"; do
  key="${r%%\?*}"
  if [[ -n "${SKIPPED[$key]:-}" ]]; then
    RTABLE+="
| \`$key\` | skipped: HTTP ${SKIPPED[$key]} | | | | |"
  else
    RTABLE+="
| \`$key\` | ${HTTP_MS[$key]} | ${SQL_MS[$key]} | $(ratio "${HTTP_MS[$key]}" "${SQL_MS[$key]}") | $(ok 2 "$(ratio "${HTTP_MS[$key]}" "${SQL_MS[$key]}")") | $(ok 1000 "${HTTP_MS[$key]}") |"
  fi
done
# Judged on pages of the same rows: the small database's busiest agent may
# have fewer open tickets than a page, and a page of 50 costs more to send
# than one of 4 whatever the table's size.
AGENT_RATIO="$(ratio "${RPS[agent_big]}" "${RPS[agent_small]}")"
AGENT_MEASURED="$AGENT_RATIO"
if [[ -n "$SAME" ]]; then
  AGENT_RATIO="$(ratio "${RPS[agent_big_same]}" "${RPS[agent_small]}")"
  AGENT_MEASURED="$AGENT_RATIO with pages of the same $SAME rows (pgbench: $(ratio "${RPS[pg_agent_big_same]}" "${RPS[pg_agent_small]}")); a full page of ${ROWS[agent_big]} on $BIG_T against the ${ROWS[agent_small]} rows on $SMALL_T: $(ratio "${RPS[agent_big]}" "${RPS[agent_small]}")"
fi
P99_SEARCH="$(ms "${P99[search]}")"
REPORT="# Service benchmark $STARTED

- Commit: $(git rev-parse --short HEAD)$(git diff --quiet -- src migrations 2>/dev/null || echo ' (uncommitted changes)'); binary built $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)
- Machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $(psql_db postgres -At -c 'SHOW server_version'); everything on these CPUs
- $BIG_DB: \`crm seed --customers $BIG_C --tickets $BIG_T --articles $BIG_A\` (${NOTE[$BIG_DB]}); tickets, comments, ratings, reopenings, articles, size: $BIG_COUNTS; $BIG_STATUS
- $SMALL_DB: \`crm seed --customers $SMALL_C --tickets $SMALL_T --articles $SMALL_A\` (${NOTE[$SMALL_DB]}); $SMALL_COUNTS; $SMALL_STATUS
- Load: $CONNS connections, $THREADS threads, ${DURATION} s per scenario after ${WARMUP} s warm-up; reports: median of $RUNS
- Searches (articles matched): $SEARCH_NOTE

$TABLE

$RTABLE

| Target | Measured | Verdict |
|---|---|---|
| agent queue on $BIG_T >= 80% of the rate on $SMALL_T | $AGENT_MEASURED (pgbench, limit $QUEUE_LIMIT on both: $(ratio "${RPS[pg_agent_big]}" "${RPS[pg_agent_small]}")) | $(ok "$AGENT_RATIO" 0.80) |
| breach queue on $BIG_T >= 80% of the rate on $SMALL_T | $(ratio "${RPS[breach_big]}" "${RPS[breach_small]}") (pgbench alone: $(ratio "${RPS[pg_breach_big]}" "${RPS[pg_breach_small]}")) | $(ok "$(ratio "${RPS[breach_big]}" "${RPS[breach_small]}")" 0.80) |
| article search p99 < 20 ms at $CONNS connections | $P99_SEARCH ms | $(ok 20 "$P99_SEARCH") |
| article search within 2x of its SQL in pgbench | pgbench/service rate $(ratio "${RPS[pg_search]}" "${RPS[search]}")x | $(ok 2 "$(ratio "${RPS[pg_search]}" "${RPS[search]}")") |
"
mkdir -p "$BENCH_DIR/results"
printf '%s\n' "$REPORT" >"$BENCH_DIR/results/service-$STAMP.md"
printf '%s\n' "$REPORT"
cp "$PLANS" "$BENCH_DIR/results/service-$STAMP-plans.txt"
echo "results: bench/results/service-$STAMP.md (SQL and plans in service-$STAMP-plans.txt)"
