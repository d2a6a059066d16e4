#!/usr/bin/env bash
# The contract is precise: a fuzzer that knows only openapi/openapi.json
# (Schemathesis, every check, every phase) finds no request the contract
# allows that the service refuses, no request it forbids that the service
# takes, no answer the contract does not describe, and no 5xx.
#
#   1. builds the debug binary and starts it on a temporary SQLite database;
#   2. scripts/contract/fuzz_setup.py signs in, seeds a few records that
#      generated requests can refer to, and writes the run's configuration;
#   3. runs Schemathesis with scripts/contract/fuzz_hooks.py, then stops the
#      service. Any failure, error or warning fails the script.
#
# What the run is told beyond the contract, and why, is in the comments of
# scripts/contract/fuzz_setup.py (the configuration) and fuzz_hooks.py; in
# short: 412 is an expected answer (a stale If-Match), refusals by documented
# rules about stored state or the clock (a referenced record must exist, an
# opaque cursor, the last admin, expires_at in the future, ...) are not held
# against the contract, and the run does not delete its own fixtures.
# docs/contract.md says how to read the result.
#
# Schemathesis lives in a venv outside the repository, reused while the pins
# in scripts/contract/fuzz-requirements.txt do not change:
#   CRM_FUZZ_VENV          (default ~/.cache/crm-schemathesis-venv)
#   CARGO_TARGET_DIR       (default ~/.cache/crm-target; the debug binary is used)
#   CRM_FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 100)
#   CRM_FUZZ_SEED          a seed to repeat a run (default: a new one, printed)
#   CRM_FUZZ_KEEP=1        keeps the temporary directory (database, logs, config)
# Extra arguments go to `schemathesis run` (e.g. --include-path-regex customers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VENV="${CRM_FUZZ_VENV:-$HOME/.cache/crm-schemathesis-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}"
CONTRACT="$ROOT/openapi/openapi.json"
REQUIREMENTS="$ROOT/scripts/contract/fuzz-requirements.txt"
MAX_EXAMPLES="${CRM_FUZZ_MAX_EXAMPLES:-100}"

step() { printf '\n--- contract-fuzz: %s (%s)\n' "$1" "$(date +%T)"; }
fail() { printf 'contract-fuzz: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crm-fuzz.XXXXXX")"
SERVER_PID=""
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$WORK/server.log" ]; then
    echo "contract-fuzz: last lines of the service's log:" >&2
    tail -n 40 "$WORK/server.log" >&2 || true
  fi
  if [ "${CRM_FUZZ_KEEP:-0}" = 1 ]; then
    echo "contract-fuzz: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. Tools --------------------------------------------------------------
step "Schemathesis in $VENV"
want_stamp="$(python3 -c 'import sys; print(sys.version.split()[0])') $(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/schemathesis" ] || [ "$(cat "$VENV/.crm-fuzz-stamp" 2>/dev/null)" != "$want_stamp" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  echo "$want_stamp" > "$VENV/.crm-fuzz-stamp"
else
  echo "reusing the venv (pins unchanged)"
fi
"$VENV/bin/schemathesis" --version

# --- 2. The service --------------------------------------------------------
step "build and start the service"
cargo build --quiet --locked
BIN="$CARGO_TARGET_DIR/debug/crm"
[ -x "$BIN" ] || fail "no binary at $BIN"
# The fuzzer reads the committed contract; it must be the one the code serves.
"$BIN" openapi > "$WORK/served.json"
python3 - "$CONTRACT" "$WORK/served.json" <<'PY' || fail "openapi/openapi.json differs from \`crm openapi\`; regenerate it"
import json, sys
sys.exit(0 if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)
PY

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE_URL="http://127.0.0.1:$PORT"
ADMIN_EMAIL="admin@example.com"
ADMIN_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"

# Only this run's settings. Generated sign-ins fail by the thousand, so the
# login throttle is raised; tokens outlive a long run.
env -u CRM_JWT_SECRET -u CRM_DB_POOL_SIZE -u CRM_CORS_ORIGINS -u CRM_TRUSTED_PROXIES \
  DATABASE_URL="$WORK/crm.db" CRM_ADDR="127.0.0.1:$PORT" \
  CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  CRM_LOGIN_MAX_FAILURES=1000000 CRM_LOGIN_MAX_FAILURES_PER_ADDRESS=1000000 \
  CRM_TOKEN_TTL_SECS=86400 RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 300); do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the service exited during start-up"
  if curl -fsS -o /dev/null --max-time 2 "$BASE_URL/ready" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
[ "$ready" -eq 1 ] || fail "the service did not become ready at $BASE_URL within 60 s"
echo "ready at $BASE_URL"

# --- 3. Seed and configure -------------------------------------------------
step "seed records and write the configuration"
CRM_BASE_URL="$BASE_URL" CRM_FUZZ_WORK="$WORK" \
  CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  "$VENV/bin/python" "$ROOT/scripts/contract/fuzz_setup.py"
set -a
# shellcheck disable=SC1091
. "$WORK/fuzz.env"
set +a

# --- 4. Fuzz ---------------------------------------------------------------
step "schemathesis run ($MAX_EXAMPLES examples per operation and phase)"
seed=()
[ -n "${CRM_FUZZ_SEED:-}" ] && seed=(--seed "$CRM_FUZZ_SEED")
export CRM_FUZZ_DROPPED="$WORK/dropped.txt"
: > "$CRM_FUZZ_DROPPED"
# One worker: Schemathesis' threads trip a CPython 3.11 bug in `ast` ("AST
# constructor recursion depth mismatch") now and then, and the machine is small.
set +e
(
  cd "$WORK" &&
    SCHEMATHESIS_HOOKS=fuzz_hooks PYTHONPATH="$ROOT/scripts/contract" \
    "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "$CONTRACT" \
      --url "$BASE_URL" \
      -H "Authorization: Bearer $CRM_FUZZ_TOKEN" \
      --checks all \
      --phases examples,coverage,fuzzing,stateful \
      --max-examples "$MAX_EXAMPLES" \
      --workers 1 \
      --generation-database none \
      --no-color \
      "${seed[@]}" "$@"
)
status=$?
set -e

step "failures not counted, by documented rule (see scripts/contract/fuzz_hooks.py)"
if [ -s "$CRM_FUZZ_DROPPED" ]; then
  sort "$CRM_FUZZ_DROPPED" | uniq -c | sort -rn
else
  echo "none"
fi

[ "$status" -eq 0 ] || fail "schemathesis reported problems (exit $status)"
step "passed"
