#!/usr/bin/env bash
# What the customers table's indexes cost a bulk insert: psql alone inserts
# the same new customers (multi-row INSERT … ON CONFLICT DO NOTHING, 1,000
# rows each, 2 sessions, as bench/batch.sh's baseline) into a fresh database
# from `crm migrate`, once per schema variant. See docs/performance.md.
#
#   bench/index_cost.sh                 # 300,000 rows per variant
#   BENCH_ROWS=50000 bench/index_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
ROWS="${BENCH_ROWS:-300000}"
BIN="${CRM_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}/release/crm}"
DB=crm_index_cost
[[ -x "$BIN" ]] || cargo build --release
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; psql "$PG/postgres" -qXc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true' EXIT
python3 bench/batch_load.py sql --rows "$ROWS" --batch 1000 --sessions 2 --out "$WORK/insert"

variant() { # label, SQL that changes the schema
  psql "$PG/postgres" -qX -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  DATABASE_URL="$PG/$DB?sslmode=disable" RUST_LOG=warn "$BIN" migrate >/dev/null
  if [[ -n "$2" ]]; then psql "$PG/$DB" -qXc "$2"; fi
  psql "$PG/postgres" -qXc CHECKPOINT
  local t0 t1
  t0=$(date +%s.%N)
  for f in "$WORK"/insert.*.sql; do psql "$PG/$DB" -qX -v ON_ERROR_STOP=1 -f "$f" >/dev/null & done
  wait
  t1=$(date +%s.%N)
  printf '| %s | %s |\n' "$1" "$(awk -v n="$ROWS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')"
}

VALUE="DROP INDEX customers_total_spent_id; DROP INDEX customers_last_order_id; DROP INDEX customers_order_count_id;"
printf '| customers schema | rows/s |\n|---|---:|\n'
variant "as shipped" ""
variant "without the trigram index" "DROP INDEX customers_search_trgm;"
variant "without the 3 value indexes" "$VALUE"
variant "without both" "DROP INDEX customers_search_trgm; $VALUE"
variant "primary key and unique keys only" "DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM pg_indexes WHERE tablename = 'customers'
    AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%key' LOOP
    EXECUTE 'DROP INDEX ' || r.indexname; END LOOP; END \$\$;"
