"""Prepares one run of scripts/contract-fuzz.sh against a fresh service.

Signs in as the first admin, creates the admin user the fuzzer signs in
as, seeds a few records that generated requests can refer
to, and writes the run's Schemathesis configuration next to them:

  $CRM_FUZZ_WORK/schemathesis.toml   the configuration (see the comments in it)
  $CRM_FUZZ_WORK/fuzz.env            the token, the fuzzer's user id and the
                                     seeded ids, for the shell script and hooks

Why seed: the contract can say what an id looks like, not which ids exist.
A contact must name an existing customer and a customer's owner an existing
user, so without records to name every generated contact would be refused
(422) and Schemathesis would rightly report that the API refuses the data
its contract describes. The generated values of those fields are drawn from
the seeded ids instead (Schemathesis "dictionaries"); negative cases still
get generated values.

Environment: CRM_BASE_URL, CRM_ADMIN_EMAIL, CRM_ADMIN_PASSWORD, CRM_FUZZ_WORK.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import requests

BASE = os.environ["CRM_BASE_URL"].rstrip("/")
ADMIN_EMAIL = os.environ["CRM_ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["CRM_ADMIN_PASSWORD"]
WORK = Path(os.environ["CRM_FUZZ_WORK"])

CUSTOMERS = 12
CONTACTS = 6


def call(method: str, path: str, token: str | None, body: object, expect: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    res = requests.request(method, BASE + path, json=body, headers=headers, timeout=30)
    if res.status_code != expect:
        sys.exit(f"fuzz_setup: {method} {path} answered {res.status_code}: {res.text[:300]}")
    return res.json()


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def main() -> None:
    login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    token = call("POST", "/api/v1/auth/login", None, login, 200)["access_token"]

    # The fuzzer signs in as an admin of its own. The hooks keep generated
    # requests from changing or deleting that user (a new password, by
    # design, revokes its tokens; deactivating or deleting it ends the run).
    fuzzer_password = secrets.token_urlsafe(18)
    fuzzer = call(
        "POST",
        "/api/v1/users",
        token,
        {"email": "contract-fuzzer@example.com", "name": "Contract fuzzer", "role": "admin", "password": fuzzer_password},
        201,
    )
    fuzzer_token = call(
        "POST", "/api/v1/auth/login", None, {"email": fuzzer["email"], "password": fuzzer_password}, 200
    )["access_token"]

    owner = call(
        "POST",
        "/api/v1/users",
        token,
        {
            "email": "seeded-owner@example.com",
            "name": "Seeded owner",
            "role": "agent",
            "password": secrets.token_urlsafe(18),
        },
        201,
    )
    # Another admin, so that demoting or deactivating the first one is
    # possible too (the last active admin is protected, a state rule).
    admin = call(
        "POST",
        "/api/v1/users",
        token,
        {
            "email": "seeded-admin@example.com",
            "name": "Seeded admin",
            "role": "admin",
            "password": secrets.token_urlsafe(18),
        },
        201,
    )
    customers = [
        call(
            "POST",
            "/api/v1/customers",
            token,
            {"kind": "company", "name": f"Seeded customer {i}", "owner_id": owner["id"], "tags": ["seeded"],
             "external_id": f"seeded-customer-{i}"},
            201,
        )["id"]
        for i in range(CUSTOMERS)
    ]
    for i in range(CONTACTS):
        call(
            "POST",
            "/api/v1/contacts",
            token,
            {"customer_id": customers[i % CUSTOMERS], "first_name": f"Seeded {i}",
             "external_id": f"seeded-contact-{i}"},
            201,
        )
    for i in range(CUSTOMERS):
        call(
            "POST",
            "/api/v1/orders",
            token,
            {"customer_id": customers[i], "external_id": f"seeded-order-{i}", "currency": "EUR",
             "ordered_at": "2026-01-01T00:00:00Z", "items": [{"sku": "SEED", "quantity": 1, "unit_price": 100}]},
            201,
        )
    for i in range(CUSTOMERS):
        call(
            "POST",
            "/api/v1/opportunities",
            token,
            {"customer_id": customers[i], "name": f"Seeded opportunity {i}", "amount": 1000,
             "external_id": f"seeded-opportunity-{i}"},
            201,
        )
        call(
            "POST",
            "/api/v1/leads",
            token,
            {"name": f"Seeded lead {i}", "external_id": f"seeded-lead-{i}"},
            201,
        )
    # Service: a schedule, the default SLA policy measured in it, a ticket
    # per customer and a published article each.
    day = lambda d: {"day": d, "start": "09:00", "end": "17:30"}
    hours = call(
        "POST",
        "/api/v1/business-hours",
        token,
        {"name": "Seeded office", "timezone": "Europe/Berlin",
         "openings": [day(d) for d in ("mon", "tue", "wed", "thu", "fri")], "holidays": ["2026-12-25"]},
        201,
    )
    target = {"first_response_minutes": 60, "resolution_minutes": 480}
    call(
        "POST",
        "/api/v1/sla-policies",
        token,
        {"name": "Seeded standard", "business_hours_id": hours["id"],
         "targets": {"urgent": target, "high": target, "normal": target, "low": target}},
        201,
    )
    solved_tickets = []
    for i in range(CUSTOMERS):
        ticket = call(
            "POST",
            "/api/v1/tickets",
            token,
            {"customer_id": customers[i], "subject": f"Seeded ticket {i}", "external_id": f"seeded-ticket-{i}"},
            201,
        )
        # A rating is taken on a solved ticket only: these are rated.
        solved = call(
            "POST",
            "/api/v1/tickets",
            token,
            {"customer_id": customers[i], "subject": f"Solved ticket {i}"},
            201,
        )
        call("PATCH", f"/api/v1/tickets/{solved['id']}", token, {"status": "solved"}, 200)
        solved_tickets.append(solved["id"])
        call(
            "POST",
            "/api/v1/articles",
            token,
            {"title": f"Seeded article {i} about refunds", "body": "Refunds take three days.", "status": "published"},
            201,
        )
    users = [owner["id"], admin["id"], call("GET", "/api/v1/users/me", token, None, 200)["id"]]

    (WORK / "fuzz.env").write_text(
        f"CRM_FUZZ_TOKEN={fuzzer_token}\n"
        f"CRM_FUZZ_USER_ID={fuzzer['id']}\n"
        f"CRM_FUZZ_CUSTOMER_IDS={','.join(customers)}\n"
        f"CRM_FUZZ_USER_IDS={','.join(users)}\n"
    )
    (WORK / "schemathesis.toml").write_text(
        CONFIG.format(
            customers=toml_list(customers),
            customer_keys=toml_list([f"seeded-customer-{i}" for i in range(CUSTOMERS)]),
            contact_keys=toml_list([f"seeded-contact-{i}" for i in range(CONTACTS)]),
            order_keys=toml_list([f"seeded-order-{i}" for i in range(CUSTOMERS)]),
            opportunity_keys=toml_list([f"seeded-opportunity-{i}" for i in range(CUSTOMERS)]),
            lead_keys=toml_list([f"seeded-lead-{i}" for i in range(CUSTOMERS)]),
            ticket_keys=toml_list([f"seeded-ticket-{i}" for i in range(CUSTOMERS)]),
            solved_tickets=toml_list(solved_tickets),
            users=toml_list(users),
            admin_email=toml_list([ADMIN_EMAIL]),
            admin_password=toml_list([ADMIN_PASSWORD]),
        )
    )
    print(f"seeded {CUSTOMERS} customers, {CONTACTS} contacts, 2 users; fuzzing as user {fuzzer['id']}")


CONFIG = """\
# Written by scripts/contract/fuzz_setup.py for one run of scripts/contract-fuzz.sh.

# Any warning fails the run, like a failure (a schema validation mismatch, an
# operation only ever answering 404 or 401, ...).
[warnings]
fail-on = true

[generation]
# The service refuses U+0000 in any text (PostgreSQL cannot store it), as the
# contract's description says. The named text fields' patterns cannot carry
# that rule into the free-form `custom_fields` values, so NUL is not generated.
allow-x00 = false

# Schemathesis' default expected statuses, plus one: 412 is the documented answer to an `If-Match` naming another version than
# the current one: which version is current is state, not something a request
# generated from the contract can know (like 404 and 409, which Schemathesis
# already expects). The service evaluates the precondition before it looks at
# the body, as RFC 9110 allows, so schema-violating bodies can get 412 too.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429", "5xx"]

# Ids of records that exist: see fuzz_setup.py.
[dictionaries.customer_ids]
values = {customers}

[dictionaries.user_ids]
values = {users}

# The seeded records' own keys (external_id), for the by-external-id reads and
# for batch items that name their customer by its key.
[dictionaries.customer_keys]
values = {customer_keys}

[dictionaries.contact_keys]
values = {contact_keys}

[dictionaries.order_keys]
values = {order_keys}

[dictionaries.opportunity_keys]
values = {opportunity_keys}

[dictionaries.lead_keys]
values = {lead_keys}

[dictionaries.ticket_keys]
values = {ticket_keys}

# Solved tickets, which take a satisfaction rating.
[dictionaries.solved_tickets]
values = {solved_tickets}

# Times in the future, for an API key's expires_at.
[dictionaries.future_times]
values = ["2031-01-01T00:00:00Z", "2040-06-30T12:30:00.5+02:00", "2099-12-31T23:59:59Z"]

[dictionaries.admin_email]
values = {admin_email}

[dictionaries.admin_password]
values = {admin_password}

[parameters]
"body.customer_id" = {{ dictionary = "customer_ids" }}
"body.referred_by_id" = {{ dictionary = "customer_ids" }}
"body.owner_id" = {{ dictionary = "user_ids" }}
"body.expires_at" = {{ dictionary = "future_times" }}

[[operations]]
include-path = "/api/v1/customers/by-external-id/{{external_id}}"
parameters = {{ "path.external_id" = {{ dictionary = "customer_keys" }} }}

[[operations]]
include-path = "/api/v1/contacts/by-external-id/{{external_id}}"
parameters = {{ "path.external_id" = {{ dictionary = "contact_keys" }} }}

[[operations]]
include-path = "/api/v1/orders/by-external-id/{{external_id}}"
parameters = {{ "path.external_id" = {{ dictionary = "order_keys" }} }}

[[operations]]
include-path = "/api/v1/opportunities/by-external-id/{{external_id}}"
parameters = {{ "path.external_id" = {{ dictionary = "opportunity_keys" }} }}

[[operations]]
include-path = "/api/v1/leads/by-external-id/{{external_id}}"
parameters = {{ "path.external_id" = {{ dictionary = "lead_keys" }} }}

[[operations]]
include-path = "/api/v1/tickets/by-external-id/{{external_id}}"
parameters = {{ "path.external_id" = {{ dictionary = "ticket_keys" }} }}

# Service rules across fields and records, which generated data rarely
# meets: business-hour openings end after they start and do not overlap, on
# a known time zone; the default SLA policy matches by nothing and every
# other one by a channel or tag; a ticket's contact is one of its
# customer's, a follow-up follows a closed ticket, and statuses move by the
# rules (409); a comment's author is the caller, the ticket's customer or one
# of its contacts; a rating needs a solved ticket. Each refusal is checked by
# the hooks (CROSS_FIELD_RULES); not warning that most data is refused here.
[[operations]]
include-path = "/api/v1/tickets/{{id}}/satisfaction"
parameters = {{ "path.id" = {{ dictionary = "solved_tickets" }} }}
warnings = {{ display = ["missing_auth"], fail-on = true }}

[[operations]]
include-path-regex = "^/api/v1/(business-hours|sla-policies|tickets)"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

# An order's total must add up (lines, shipping, tax) and a discount fit its
# line: rules across fields that generated data rarely meets, so most
# generated orders are refused by them (each refusal is checked by the hooks;
# see CROSS_FIELD_RULES). Not warning that most data is refused here.
[[operations]]
include-path = "/api/v1/orders"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

[[operations]]
include-path = "/api/v1/orders/{{id}}"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

# Sales rules across fields and records, which generated data rarely meets:
# a pipeline needs an open, a won and a lost stage with distinct names; an
# opportunity's stage must be of its pipeline and a lost one needs its
# reason; an activity links to a record and carries only its kind's fields;
# a lead converts once, into a customer whose fields must hold together.
# Each refusal is checked by the hooks (CROSS_FIELD_RULES); not warning that
# most data is refused here. A stage is deleted only by id, which no
# operation's answer links to, and the only pipeline before the run is the
# default one; their 404s are expected.
[[operations]]
include-path = "/api/v1/pipelines"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

[[operations]]
include-path = "/api/v1/pipelines/{{id}}/stages/{{stage_id}}"
warnings = {{ display = ["missing_auth"], fail-on = true }}

[[operations]]
include-path = "/api/v1/opportunities"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

[[operations]]
include-path = "/api/v1/opportunities/{{id}}"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

[[operations]]
include-path = "/api/v1/pipelines/{{id}}"
warnings = {{ display = ["missing_auth"], fail-on = true }}

[[operations]]
include-path = "/api/v1/activities"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

[[operations]]
include-path = "/api/v1/activities/{{id}}"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

[[operations]]
include-path = "/api/v1/leads/{{id}}"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

[[operations]]
include-path = "/api/v1/leads/{{id}}/convert"
warnings = {{ display = ["missing_auth", "missing_test_data"], fail-on = true }}

# Half the generated sign-ins use the admin's real email and password, so the
# operation is seen succeeding too (and the login throttle is raised for the run).
[[operations]]
include-path = "/api/v1/auth/login"
parameters = {{ "body.email" = {{ dictionary = "admin_email", probability = 0.7 }}, "body.password" = {{ dictionary = "admin_password", probability = 0.7 }} }}
"""


if __name__ == "__main__":
    main()
