"""Schemathesis hooks for scripts/contract-fuzz.sh (SCHEMATHESIS_HOOKS).

Environment (written by fuzz_setup.py): CRM_FUZZ_USER_ID, the id of the
user the run signs in as; CRM_FUZZ_CUSTOMER_IDS and CRM_FUZZ_USER_IDS, the
seeded records (comma-separated ids).
"""

from __future__ import annotations

import itertools
import os
import re
import zlib

import schemathesis

FUZZ_USER_ID = os.environ["CRM_FUZZ_USER_ID"]
SEEDED_CUSTOMERS = os.environ["CRM_FUZZ_CUSTOMER_IDS"].split(",")
SEEDED_USERS = os.environ["CRM_FUZZ_USER_IDS"].split(",")

# The contract's patterns of `Idempotency-Key` and `If-Match`.
IDEMPOTENCY_KEY = re.compile(r"^[!-~](?:[\t -~]*[!-~])?$")
IF_MATCH = re.compile(r'^(?:\*|"[0-9]+"(?:[\t ]*,[\t ]*"[0-9]+")*)$')
# Ids of records the run has seen: seeded, or in an answer about customers
# or users (see `after_call`).
KNOWN = {"customers": set(SEEDED_CUSTOMERS), "users": set(SEEDED_USERS)}
RECORD_PATHS = {
    "/api/v1/customers": "customers",
    "/api/v1/customers/{id}": "customers",
    "/api/v1/users": "users",
    "/api/v1/users/{id}": "users",
    "/api/v1/users/me": "users",
}
REFERENCES = {
    "customer_id": ("customers", SEEDED_CUSTOMERS),
    "referred_by_id": ("customers", SEEDED_CUSTOMERS),
    "owner_id": ("users", SEEDED_USERS),
}
_sent = itertools.count()


def _spares_the_fixtures(case) -> bool:
    """Leaves alone what the run stands on:

    - the user the run signs in as is never changed or deleted: a new
      password revokes its token (by design), and so do deactivating and
      deleting it; every later request would get 401 and test nothing;
    - the seeded customers and users are never deleted: generated references
      point at them (see `before_call`).

    Changing and deleting everything else, admins included, is tested."""
    record = (case.path_parameters or {}).get("id")
    method = case.method.upper()
    if case.path == "/api/v1/users/{id}":
        if record == FUZZ_USER_ID and method in ("PATCH", "DELETE"):
            return False
        return not (method == "DELETE" and record in SEEDED_USERS)
    if case.path == "/api/v1/customers/{id}":
        return not (method == "DELETE" and record in SEEDED_CUSTOMERS)
    return True


@schemathesis.hook
def filter_case(context, case) -> bool:
    return _spares_the_fixtures(case)


@schemathesis.hook
def before_add_examples(context, examples) -> None:
    # The examples phase does not run `filter_case`.
    examples[:] = [case for case in examples if _spares_the_fixtures(case)]


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    """Supplies what a positive request generated from the contract cannot
    know; each change keeps a valid value valid.

    - `Idempotency-Key`: a key used again with another body is refused (422,
      as the Idempotency-Key draft says), and generated keys repeat (the
      contract's example, "!", ...). A valid key gets a unique suffix.
    - `If-Match`: the coverage phase spells header values with letters and
      digits only, so around other values it sends `If-Match: 0`, which the
      contract's pattern does not allow, yet counts the case as positive.
      Such a value is dropped (the header is optional); entity tags stay.
    - A well-formed reference (customer_id, referred_by_id, owner_id) must
      name a record of the right kind that exists. One the run has not seen
      (the coverage phase's "0", a user's id given as a customer's, ...) is
      swapped for a seeded record's id.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        # A negative case stays exactly as generated (an edit would make
        # Schemathesis re-classify it).
        return
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and IDEMPOTENCY_KEY.match(key):
        suffix = f"~{next(_sent)}"
        headers["Idempotency-Key"] = key[: 255 - len(suffix)] + suffix
    condition = headers.get("If-Match")
    if isinstance(condition, str) and not IF_MATCH.match(condition):
        del headers["If-Match"]
    if isinstance(case.body, dict):
        for field, (kind, seeded) in REFERENCES.items():
            value = case.body.get(field)
            if isinstance(value, str) and value.strip() and len(value) <= 64 and value not in KNOWN[kind]:
                case.body[field] = seeded[zlib.crc32(value.encode("utf-8", "surrogatepass")) % len(seeded)]


@schemathesis.hook
def after_call(context, case, response) -> None:
    """Remembers the ids of customers and users the service answered with."""
    kind = RECORD_PATHS.get(case.path)
    if kind is None or response.status_code not in (200, 201):
        return
    try:
        body = response.json()
    except Exception:
        return
    records = body.get("data") if isinstance(body, dict) and "data" in body else [body]
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            KNOWN[kind].add(record["id"])


# Refusals of schema-valid requests that depend on the state of the service
# or on the clock, which no contract can describe. Each one is a documented
# rule and answers 422 with the code below; the check that positive data is
# accepted stays on for everything else.
STATE_RULES = {
    # A referenced record (customer_id, owner_id, referred_by_id) does not
    # exist. The run draws these ids from seeded records (see fuzz_setup.py),
    # but the coverage phase makes up its own and records get deleted.
    "not_found",
    # A customer cannot refer itself: depends on which record is patched.
    "self_reference",
    # An API key's expires_at must be in the future: depends on the clock.
    "in_the_past",
    # A cursor is opaque: only a `next_cursor` of the same list and sort is
    # one. The contract states its alphabet, which is all it can state.
    "invalid_cursor",
}

# Rules across fields or items, which a JSON schema cannot state (each is
# documented in the field's description and answers 422 with this code): an
# order's `total` must equal its lines plus shipping and tax, a line's
# discount at most its quantity × unit_price (and the total within its
# maximum); two items of one batch may not share a key.
# Also: a batch item names its customer by one of two fields, and carries the
# key `match_on` names (for customers, `email` or `external_id`).
CROSS_FIELD_RULES = {
    "total_mismatch", "out_of_range", "duplicate_key", "customer_required", "conflicting", "key_required",
    # Sales: a pipeline keeps an open, a won and a lost stage with distinct
    # names and one default; a stage belongs to its pipeline and a contact or
    # opportunity to its customer; a lost opportunity needs its reason (an
    # unqualified lead too) and only it has one; an activity links to
    # something, and each kind carries only its own fields; `converted` is
    # reached by conversion.
    "stage_kind_required", "duplicate", "default_required", "wrong_pipeline", "wrong_customer",
    "required", "not_lost", "not_unqualified", "link_required", "not_for_kind", "convert_required",
    "lost_stage",
    # Service: schedules, policies, tickets, comments and searches.
    "unknown_timezone", "overlapping", "before_start", "invalid_time", "invalid_date",
    "not_on_default", "invalid_author", "not_closed", "invalid_transition", "no_words",
}

# A batch (`POST /{collection}/batch`) answers 200 with one result per item:
# an item the contract refuses fails alone, in its result (documented), while
# the others are written; only `"atomic": true` turns it into a 422.
BATCH = "/batch"

# Whole-request refusals because of the state (`urn:crm:problem:unprocessable`):
# the last active admin cannot be demoted, deactivated or deleted; a user
# cannot delete itself; an Idempotency-Key cannot be reused with another body.
STATE_PROBLEM = "urn:crm:problem:unprocessable"

# `DELETE /users/{id}/login-lock` clears an account's failed sign-ins; the
# lock is a property of the user, not a record, so reading it afterwards
# answers 200 with `locked: false` (documented), not 404. Schemathesis'
# use-after-free check expects every DELETE to remove a resource.
RESET_NOT_DELETE = "/api/v1/users/{id}/login-lock"

# `GET /{collection}/{id}/history` is the audit trail, deletion included: it
# stays readable after the record is deleted (documented), so it answers 200
# where the use-after-free check expects 404.
HISTORY = "/{id}/history"


def _problem(response) -> dict:
    try:
        body = response.json()
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


def _dropped_because(failure, case, response) -> str | None:
    """The documented rule behind a failure that is not one, or None."""
    if failure.code == "ST301" and case.path == RESET_NOT_DELETE:
        return "login lock reset"
    if failure.code == "ST301" and case.path.endswith(HISTORY):
        return "history outlives its record"
    if failure.code == "ST201" and case.path.endswith(BATCH) and response.status_code == 200:
        body = _problem(response)
        if body.get("failed", 0) >= 1:
            return "a batch item fails alone"
    if failure.code != "ST202" or response.status_code != 422:
        return None
    problem = _problem(response)
    if problem.get("type") == STATE_PROBLEM:
        return str(problem.get("detail"))
    codes = {e.get("code") for e in problem.get("errors") or [] if isinstance(e, dict)}
    if codes and codes <= STATE_RULES | CROSS_FIELD_RULES:
        return ", ".join(sorted(codes))
    return None


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but those `_dropped_because` explains; with
    CRM_FUZZ_DROPPED set, each dropped one is noted there (one line each)."""
    reason = _dropped_because(failure, case, response)
    if reason is None:
        return True
    log = os.environ.get("CRM_FUZZ_DROPPED")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{failure.code} {case.method.upper()} {case.path}: {reason}\n")
    return False
