#!/usr/bin/env bash
# The contract works for a client that only knows the contract:
#
#   1. openapi/openapi.json passes a standard validator (openapi-spec-validator);
#   2. a standard generator (openapi-python-client) turns it into a Python
#      client with no warnings;
#   3. that client, untouched, drives the running service through a whole
#      customer's life (scripts/contract/client_check.py).
#
# The tools live in a venv outside the repository, reused while the pins in
# scripts/contract/requirements.txt do not change:
#   CRM_CONTRACT_VENV   (default ~/.cache/crm-contract-venv)
#   CARGO_TARGET_DIR    (default ~/.cache/crm-target; the debug binary is used)
#   CRM_CONTRACT_KEEP=1 keeps the temporary directory (client, database, log).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VENV="${CRM_CONTRACT_VENV:-$HOME/.cache/crm-contract-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crm-target}"
CONTRACT="$ROOT/openapi/openapi.json"
REQUIREMENTS="$ROOT/scripts/contract/requirements.txt"

step() { printf '\n--- contract-client: %s (%s)\n' "$1" "$(date +%T)"; }
fail() { printf 'contract-client: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crm-contract.XXXXXX")"
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
    echo "contract-client: last lines of the service's log:" >&2
    tail -n 40 "$WORK/server.log" >&2 || true
  fi
  if [ "${CRM_CONTRACT_KEEP:-0}" = 1 ]; then
    echo "contract-client: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. Tools --------------------------------------------------------------
step "tools in $VENV"
# The stamp records what the venv was built from; a match skips pip entirely.
want_stamp="$(python3 -c 'import sys; print(sys.version.split()[0])') $(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.crm-contract-stamp" 2>/dev/null)" != "$want_stamp" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  echo "$want_stamp" > "$VENV/.crm-contract-stamp"
else
  echo "reusing the venv (pins unchanged)"
fi
# The generator runs ruff from PATH on what it writes.
export PATH="$VENV/bin:$PATH"
openapi-spec-validator --version
openapi-python-client --version

# --- 2. Validate -----------------------------------------------------------
step "validate openapi/openapi.json"
# A broken $ref makes the validator print the whole document; cut long lines.
set +e
openapi-spec-validator --schema 3.1 --validation-errors all "$CONTRACT" > "$WORK/validate.log" 2>&1
status=$?
set -e
cut -c1-400 "$WORK/validate.log"
[ "$status" -eq 0 ] || fail "openapi/openapi.json is not a valid OpenAPI 3.1 document"

# --- 3. Generate -----------------------------------------------------------
step "generate a Python client"
set +e
(cd "$WORK" && openapi-python-client generate --path "$CONTRACT" --meta none \
  --output-path "$WORK/crm_client" --fail-on-warning) > "$WORK/generate.log" 2>&1
status=$?
set -e
cat "$WORK/generate.log"
[ "$status" -eq 0 ] || fail "the generator failed (exit $status)"
# --fail-on-warning covers the contract; anything else it warns about (such
# as a post-processing hook that could not run) is a failure here too.
if grep -qiE 'warning|error|not in PATH|will not be generated' "$WORK/generate.log"; then
  fail "the generator reported problems (see above)"
fi
[ -f "$WORK/crm_client/client.py" ] || fail "the generator wrote no client"

# --- 4. The service --------------------------------------------------------
step "build and start the service"
cargo build --quiet --locked
BIN="$CARGO_TARGET_DIR/debug/crm"
[ -x "$BIN" ] || fail "no binary at $BIN"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE_URL="http://127.0.0.1:$PORT"
ADMIN_EMAIL="admin@example.com"
ADMIN_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"

# Only this run's settings: nothing inherited from the caller's environment.
env -u CRM_JWT_SECRET -u CRM_TOKEN_TTL_SECS -u CRM_DB_POOL_SIZE -u CRM_CORS_ORIGINS \
  DATABASE_URL="$WORK/crm.db" CRM_ADDR="127.0.0.1:$PORT" \
  CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  RUST_LOG="${RUST_LOG:-info}" \
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

# --- 5. Drive it with the generated client --------------------------------
step "drive the service with the generated client"
CRM_BASE_URL="$BASE_URL" CRM_CLIENT_DIR="$WORK" \
  CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  "$VENV/bin/python" "$ROOT/scripts/contract/client_check.py"

step "passed"
