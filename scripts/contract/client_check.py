"""Drives the running service with the client generated from the contract.

Run by scripts/contract-client.sh. Only the generated package `crm_client`
(its API functions and typed models) talks to the service: no hand-written
requests, no edits to the generated code. Every answer must be a status the
contract documents (`raise_on_unexpected_status`) and must parse into the
model the contract names for it.

Environment: CRM_BASE_URL, CRM_CLIENT_DIR (the directory holding
`crm_client`), CRM_ADMIN_EMAIL, CRM_ADMIN_PASSWORD.
"""

from __future__ import annotations

import datetime
import os
import sys
import uuid
from typing import Any

sys.path.insert(0, os.environ["CRM_CLIENT_DIR"])

from crm_client import AuthenticatedClient, Client
from crm_client.api.api_keys import create_api_key, revoke_api_key
from crm_client.api.auth import login
from crm_client.api.contacts import batch_contacts, create_contact, list_customer_contacts
from crm_client.api.customers import (
    batch_customers,
    create_customer,
    get_customer_by_external_id,
    customer_history,
    delete_customer,
    get_customer,
    list_customers,
    update_customer,
)
from crm_client.api.events import feed
from crm_client.api.orders import (
    batch_orders,
    create_order,
    get_order_by_external_id,
    list_orders,
    update_order,
)
from crm_client.api.operations import health, ready
from crm_client.api.users import me
from crm_client.models import (
    Action,
    BatchResult,
    ContactBatch,
    ContactBatchItem,
    CustomerBatch,
    ItemStatus,
    LineItemInput,
    Order,
    OrderBatch,
    OrderBatchItem,
    OrderInput,
    OrderPage,
    OrderPatch,
    OrderSort,
    OrderStatus,
    ActorType,
    Address,
    AddressPatch,
    ApiKeyInput,
    Contact,
    ContactInput,
    ContactPage,
    Customer,
    CustomerInput,
    CustomerInputCustomFields,
    CustomerKind,
    CustomerPage,
    CustomerPatch,
    CustomerSort,
    Event,
    EventPage,
    FieldChange,
    LifecycleStage,
    LoginRequest,
    NewApiKey,
    Problem,
    ResourceKind,
    Role,
    Status,
    Tier,
    TokenResponse,
    User,
)
from crm_client.types import UNSET, Response

BASE_URL = os.environ["CRM_BASE_URL"]
ADMIN_EMAIL = os.environ["CRM_ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["CRM_ADMIN_PASSWORD"]

checks = 0


class Mismatch(Exception):
    pass


def check(condition: bool, what: str) -> None:
    global checks
    checks += 1
    if not condition:
        raise Mismatch(what)


def eq(actual: Any, expected: Any, what: str) -> None:
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def answer(response: Response[Any], status: int, model: type, what: str) -> Any:
    """The parsed body of `response`, which must have `status` and parse into `model`."""
    eq(int(response.status_code), status, f"{what}: status")
    check(
        isinstance(response.parsed, model),
        f"{what}: expected a {model.__name__}, got {type(response.parsed).__name__}: "
        f"{response.content[:500]!r}",
    )
    return response.parsed


def problem(response: Response[Any], status: int, what: str) -> Problem:
    """The answer must be a problem document with `status`, parsed into the generated model."""
    p = answer(response, status, Problem, what)
    eq(p.status, status, f"{what}: problem status")
    check(p.type_.startswith("urn:crm:problem:"), f"{what}: problem type {p.type_!r}")
    check(bool(p.title) and bool(p.detail), f"{what}: problem title and detail")
    content_type = response.headers.get("content-type", "")
    check(
        content_type.startswith("application/problem+json"),
        f"{what}: content type {content_type!r}",
    )
    return p


def main() -> None:
    run = uuid.uuid4().hex[:8]
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True, timeout=30.0)

    # Operations.
    eq(
        answer(health.sync_detailed(client=anonymous), 200, Status, "health").status,
        "ok",
        "health",
    )
    eq(
        answer(ready.sync_detailed(client=anonymous), 200, Status, "ready").status,
        "ready",
        "ready",
    )

    # Sign in; a wrong password is a 401 problem.
    p = problem(
        login.sync_detailed(
            client=anonymous,
            body=LoginRequest(email=ADMIN_EMAIL, password="wrong-" + run),
        ),
        401,
        "login with a wrong password",
    )
    token = answer(
        login.sync_detailed(
            client=anonymous,
            body=LoginRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD),
        ),
        200,
        TokenResponse,
        "login",
    )
    eq(token.token_type, "Bearer", "token_type")
    check(token.expires_in > 0, f"expires_in > 0, got {token.expires_in}")
    admin = AuthenticatedClient(
        base_url=BASE_URL,
        token=token.access_token,
        raise_on_unexpected_status=True,
        timeout=30.0,
    )
    user = answer(me.sync_detailed(client=admin), 200, User, "me")
    eq(user.email, ADMIN_EMAIL, "me.email")
    eq(user.role, Role.ADMIN, "me.role")
    check(user.active is True, "me.active")

    # Without a token: 401 problem.
    problem(
        list_customers.sync_detailed(
            client=AuthenticatedClient(
                base_url=BASE_URL, token="nope", raise_on_unexpected_status=True
            )
        ),
        401,
        "list with a bad token",
    )

    # Create a customer with an address, tags and custom fields.
    custom = CustomerInputCustomFields.from_dict({"erp_segment": "north", "seats": 12})
    body = CustomerInput(
        kind=CustomerKind.COMPANY,
        name="  Acme GmbH  ",
        email=f"Billing-{run}@Acme.example",
        phone="+49 30 1234567",
        website="https://acme.example",
        address=Address(
            line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="de"
        ),
        lifecycle_stage=LifecycleStage.ACTIVE,
        tier=Tier.A,
        email_opt_in=True,
        tags=[f"vip-{run}", "wholesale", "wholesale"],
        custom_fields=custom,
        external_id=f"erp-{run}",
    )
    response = create_customer.sync_detailed(
        client=admin, body=body, idempotency_key=f"create-{run}"
    )
    acme = answer(response, 201, Customer, "create customer")
    eq(acme.name, "Acme GmbH", "name is trimmed")
    eq(acme.email, f"billing-{run}@acme.example", "email is lower-cased")
    eq(acme.kind, CustomerKind.COMPANY, "kind")
    eq(acme.lifecycle_stage, LifecycleStage.ACTIVE, "lifecycle_stage")
    eq(acme.tier, Tier.A, "tier")
    check(isinstance(acme.address, Address), "address is an Address")
    eq(acme.address.country, "DE", "address.country is upper-cased")
    eq(acme.address.city, "Berlin", "address.city")
    eq(
        sorted(acme.tags),
        sorted([f"vip-{run}", "wholesale"]),
        "tags without duplicates",
    )
    eq(
        acme.custom_fields.to_dict(),
        {"erp_segment": "north", "seats": 12},
        "custom_fields",
    )
    eq(acme.email_opt_in, True, "email_opt_in")
    eq(acme.sms_opt_in, False, "sms_opt_in")
    check(
        acme.consent_updated_at not in (None, UNSET),
        "consent_updated_at is set when consent is given",
    )
    eq(acme.version, 1, "version")
    eq(response.headers.get("etag"), '"1"', "ETag of the new customer")
    eq(response.headers.get("location"), f"/api/v1/customers/{acme.id}", "Location")

    # The same Idempotency-Key and body replay the stored answer.
    replay = answer(
        create_customer.sync_detailed(
            client=admin, body=body, idempotency_key=f"create-{run}"
        ),
        201,
        Customer,
        "replayed create",
    )
    eq(replay.id, acme.id, "a replay returns the same customer")

    # A duplicate email is a 409 problem naming the existing record.
    dup = CustomerInput(
        kind=CustomerKind.PERSON, name="Someone", email=f"billing-{run}@acme.example"
    )
    p = problem(
        create_customer.sync_detailed(client=admin, body=dup), 409, "duplicate email"
    )
    eq(p.existing_id, acme.id, "409 names the existing customer")

    # A second customer with the same tag, for the list.
    globex = answer(
        create_customer.sync_detailed(
            client=admin,
            body=CustomerInput(
                kind=CustomerKind.COMPANY,
                name="Globex",
                tags=[f"vip-{run}"],
                tier=Tier.B,
            ),
        ),
        201,
        Customer,
        "create second customer",
    )
    eq(globex.lifecycle_stage, LifecycleStage.PROSPECT, "default lifecycle_stage")
    check(globex.email in (None, UNSET), "no email")

    # Read it back.
    response = get_customer.sync_detailed(acme.id, client=admin)
    got = answer(response, 200, Customer, "get customer")
    eq(got.to_dict(), acme.to_dict(), "get returns what create returned")
    eq(response.headers.get("etag"), '"1"', "ETag on get")

    # List with a filter and a limit, and follow the cursor.
    page = answer(
        list_customers.sync_detailed(
            client=admin,
            tag=f"vip-{run}",
            kind=CustomerKind.COMPANY,
            limit=1,
            include_total=True,
            sort=CustomerSort("name"),
        ),
        200,
        CustomerPage,
        "list customers",
    )
    eq([c.id for c in page.data], [acme.id], "first page, sorted by name")
    eq(page.total, 2, "total")
    check(isinstance(page.next_cursor, str), "a next_cursor on the first page")
    page2 = answer(
        list_customers.sync_detailed(
            client=admin,
            tag=f"vip-{run}",
            kind=CustomerKind.COMPANY,
            limit=1,
            sort=CustomerSort("name"),
            cursor=page.next_cursor,
        ),
        200,
        CustomerPage,
        "list customers, second page",
    )
    eq([c.id for c in page2.data], [globex.id], "second page")
    check(page2.next_cursor in (None, UNSET), "no next_cursor on the last page")
    page = answer(
        list_customers.sync_detailed(
            client=admin, tier=Tier.B, q="globex", sort=CustomerSort("-created_at")
        ),
        200,
        CustomerPage,
        "list by tier and q",
    )
    eq([c.id for c in page.data], [globex.id], "filter by tier and q")

    # Merge patch: change the name, clear the phone, merge the address; If-Match.
    patch = CustomerPatch(
        name="Acme AG",
        phone=None,
        address=AddressPatch(city="Hamburg", postal_code="20095"),
    )
    response = update_customer.sync_detailed(
        acme.id, client=admin, body=patch, if_match='"1"'
    )
    patched = answer(response, 200, Customer, "patch customer")
    eq(patched.name, "Acme AG", "patched name")
    check(patched.phone in (None, UNSET), f"phone cleared, got {patched.phone!r}")
    eq(patched.address.city, "Hamburg", "patched address.city")
    eq(patched.address.line1, "Hauptstr. 1", "address.line1 kept by the merge")
    eq(patched.address.country, "DE", "address.country kept by the merge")
    eq(patched.tier, Tier.A, "tier untouched")
    eq(sorted(patched.tags), sorted([f"vip-{run}", "wholesale"]), "tags untouched")
    eq(patched.version, 2, "version after the patch")
    eq(response.headers.get("etag"), '"2"', "ETag after the patch")
    problem(
        update_customer.sync_detailed(
            acme.id, client=admin, body=CustomerPatch(name="Stale"), if_match='"1"'
        ),
        412,
        "patch with a stale If-Match",
    )
    patched = answer(
        update_customer.sync_detailed(
            acme.id, client=admin, body=CustomerPatch(tier=None)
        ),
        200,
        Customer,
        "clear the tier",
    )
    check(patched.tier in (None, UNSET), f"tier cleared, got {patched.tier!r}")
    eq(patched.version, 3, "version after the second patch")

    # A contact, then the customer's contact list.
    contact = answer(
        create_contact.sync_detailed(
            client=admin,
            body=ContactInput(
                customer_id=acme.id,
                first_name="Ada",
                last_name="Lovelace",
                email=f"ADA-{run}@Acme.example",
                title="CTO",
                is_primary=True,
            ),
        ),
        201,
        Contact,
        "create contact",
    )
    eq(contact.customer_id, acme.id, "contact.customer_id")
    eq(contact.email, f"ada-{run}@acme.example", "contact email lower-cased")
    contacts = answer(
        list_customer_contacts.sync_detailed(acme.id, client=admin),
        200,
        ContactPage,
        "customer's contacts",
    )
    eq(
        [(c.id, c.first_name, c.last_name, c.is_primary) for c in contacts.data],
        [(contact.id, "Ada", "Lovelace", True)],
        "contact list",
    )
    problem(
        list_customer_contacts.sync_detailed("no-such-customer", client=admin),
        404,
        "contacts of an unknown customer",
    )

    # The events feed: the customer's creation and changes, in order.
    events: list[Event] = []
    after = 0
    while True:
        page = answer(
            feed.sync_detailed(client=admin, after=after, limit=2),
            200,
            EventPage,
            "events feed",
        )
        for event in page.data:
            check(isinstance(event, Event), "an Event")
            check(event.seq > after, f"seq {event.seq} grows past {after}")
            after = event.seq
        events.extend(page.data)
        eq(page.next_after, after, "next_after is the last seq")
        if not page.has_more:
            break
    mine = [e for e in events if e.record_id == acme.id]
    eq(
        [(e.resource, e.action) for e in mine],
        [(ResourceKind.CUSTOMERS, Action.CREATED)]
        + [(ResourceKind.CUSTOMERS, Action.UPDATED)] * 2,
        "acme's events",
    )
    update = mine[1]
    name_change = update.changes["name"]
    check(isinstance(name_change, FieldChange), "changes hold FieldChange models")
    eq((name_change.old, name_change.new), ("Acme GmbH", "Acme AG"), "name change")
    eq(
        (update.changes["phone"].old, update.changes["phone"].new),
        ("+49 30 1234567", None),
        "phone change",
    )
    eq(update.actor.type_, ActorType.USER, "actor type")
    eq(update.actor.id, user.id, "actor id")
    eq(
        update.data.to_dict()["name"],
        "Acme AG",
        "event data is the record after the change",
    )
    contact_events = answer(
        feed.sync_detailed(client=admin, resource=ResourceKind.CONTACTS),
        200,
        EventPage,
        "contact events",
    )
    check(
        any(
            e.record_id == contact.id and e.action == Action.CREATED
            for e in contact_events.data
        ),
        "the contact's creation is in the feed",
    )
    history = answer(
        customer_history.sync_detailed(acme.id, client=admin),
        200,
        EventPage,
        "customer history",
    )
    eq(
        [e.seq for e in history.data],
        [e.seq for e in mine],
        "history is the customer's events",
    )

    # An API key (viewer), used by the generated client as a bearer token.
    response = create_api_key.sync_detailed(
        client=admin, body=ApiKeyInput(name=f"contract check {run}", role=Role.VIEWER)
    )
    key = answer(response, 201, NewApiKey, "create API key")
    eq(key.role, Role.VIEWER, "key role")
    check(
        len(key.key) > 20 and key.key.startswith(key.key_prefix),
        "the secret starts with key_prefix",
    )
    eq(response.headers.get("location"), f"/api/v1/api-keys/{key.id}", "key Location")
    viewer = AuthenticatedClient(
        base_url=BASE_URL, token=key.key, raise_on_unexpected_status=True, timeout=30.0
    )
    page = answer(
        list_customers.sync_detailed(
            client=viewer, tag=f"vip-{run}", sort=CustomerSort("name")
        ),
        200,
        CustomerPage,
        "list with the API key",
    )
    eq([c.id for c in page.data], [acme.id, globex.id], "the key sees the customers")
    eq(page.data[0].name, "Acme AG", "the key sees the change")
    p = problem(
        create_customer.sync_detailed(
            client=viewer, body=CustomerInput(kind=CustomerKind.PERSON, name="No")
        ),
        403,
        "a viewer key creates",
    )

    # A validation problem lists each broken field.
    bad = CustomerInput(
        kind=CustomerKind.PERSON,
        name="Bad",
        email="not-an-email",
        address=Address(country="XX"),
        tags=[""],
    )
    p = problem(
        create_customer.sync_detailed(client=admin, body=bad), 422, "invalid customer"
    )
    check(
        isinstance(p.errors, list) and len(p.errors) >= 3,
        f"422 lists the errors: {p.errors!r}",
    )
    fields = {e.field: e.code for e in p.errors}
    eq(fields.get("email"), "invalid_email", "email error")
    eq(fields.get("address.country"), "invalid_country", "address.country error")
    check(any(f.startswith("tags") for f in fields), f"a tags error in {fields}")
    check(all(e.message for e in p.errors), "every field error has a message")
    p = problem(
        list_customers.sync_detailed(client=admin, limit=501), 422, "limit out of range"
    )
    eq(
        [(e.field, e.code) for e in p.errors],
        [("limit", "out_of_range")],
        "limit error",
    )

    # Delete (a stale If-Match is refused first), then the customer is gone.
    problem(
        delete_customer.sync_detailed(acme.id, client=admin, if_match='"1"'),
        412,
        "delete with a stale If-Match",
    )
    response = delete_customer.sync_detailed(acme.id, client=admin, if_match='"3"')
    eq(int(response.status_code), 204, "delete status")
    eq(response.content, b"", "delete has no body")
    p = problem(
        get_customer.sync_detailed(acme.id, client=admin), 404, "get after delete"
    )
    check(
        acme.id in p.detail or "customer" in p.detail.lower(),
        f"404 detail names the customer: {p.detail!r}",
    )
    deletions = answer(
        feed.sync_detailed(client=admin, after=after),
        200,
        EventPage,
        "events after the delete",
    )
    eq(
        [
            (e.resource, e.record_id, e.action)
            for e in deletions.data
            if e.resource != ResourceKind.API_KEYS
        ],
        [
            (ResourceKind.CONTACTS, contact.id, Action.DELETED),
            (ResourceKind.CUSTOMERS, acme.id, Action.DELETED),
        ],
        "the delete's events",
    )
    check(
        all(
            e.data in (None, UNSET)
            for e in deletions.data
            if e.action == Action.DELETED
        ),
        "no data after a delete",
    )

    # ERP sync: batches by the caller's keys, then reads by those keys.
    keys = [f"erp-{run}-{i}" for i in range(3)]
    customers_batch = CustomerBatch(
        items=[
            CustomerInput(kind=CustomerKind.COMPANY, name=f"ERP {i}", external_id=key)
            for i, key in enumerate(keys)
        ]
    )
    result = answer(
        batch_customers.sync_detailed(client=admin, body=customers_batch),
        200,
        BatchResult,
        "batch of customers",
    )
    eq((result.created, result.failed), (3, 0), "batch created")
    eq([r.status for r in result.results], [ItemStatus.CREATED] * 3, "item statuses")
    again = answer(
        batch_customers.sync_detailed(client=admin, body=customers_batch),
        200,
        BatchResult,
        "batch resent",
    )
    eq(again.unchanged, 3, "a resend changes nothing")
    eq([r.id for r in again.results], [r.id for r in result.results], "same records")
    contacts_result = answer(
        batch_contacts.sync_detailed(
            client=admin,
            body=ContactBatch(
                items=[
                    ContactBatchItem(
                        customer_external_id=keys[0],
                        first_name="Erin",
                        external_id=f"erp-contact-{run}",
                    )
                ]
            ),
        ),
        200,
        BatchResult,
        "batch of contacts",
    )
    eq(contacts_result.created, 1, "contact created by its customer's key")
    orders_result = answer(
        batch_orders.sync_detailed(
            client=admin,
            body=OrderBatch(
                items=[
                    OrderBatchItem(
                        customer_external_id=keys[i % 2],
                        external_id=f"erp-order-{run}-{i}",
                        number=f"SO-{run}-{i}",
                        ordered_at=datetime.datetime(2026, 3, 1 + i, tzinfo=datetime.timezone.utc),
                        currency="EUR",
                        status=OrderStatus.PAID,
                        items=[LineItemInput(sku=f"sku-{run}", quantity=2, unit_price=1000 + i)],
                    )
                    for i in range(3)
                ]
            ),
        ),
        200,
        BatchResult,
        "batch of orders",
    )
    eq(orders_result.created, 3, "orders created")
    buyer = answer(
        get_customer_by_external_id.sync_detailed(keys[0], client=admin),
        200,
        Customer,
        "customer by external id",
    )
    eq((buyer.value.order_count, buyer.value.total_spent), (2, 2000 + 2004), "value from orders")
    eq(buyer.value.currency, "EUR", "value in the base currency")
    eq(buyer.version, 1, "value changes keep the version")
    single = answer(
        create_order.sync_detailed(
            client=admin,
            body=OrderInput(
                customer_id=buyer.id,
                ordered_at=datetime.datetime(2026, 4, 1, tzinfo=datetime.timezone.utc),
                currency="USD",
                items=[LineItemInput(sku=f"sku-{run}", quantity=1, unit_price=500, discount=50)],
                shipping=100,
            ),
        ),
        201,
        Order,
        "create order",
    )
    eq((single.subtotal, single.total), (450, 550), "order amounts")
    changed = answer(
        update_order.sync_detailed(
            single.id, client=admin, body=OrderPatch(status=OrderStatus.REFUNDED)
        ),
        200,
        Order,
        "patch order",
    )
    eq(changed.version, 2, "order version after a change")
    orders_page = answer(
        list_orders.sync_detailed(client=admin, sku=f"sku-{run}", sort=OrderSort("-total")),
        200,
        OrderPage,
        "list orders by sku",
    )
    eq([o.total for o in orders_page.data], [2004, 2002, 2000, 550], "orders by total, descending")
    by_key = answer(
        get_order_by_external_id.sync_detailed(f"erp-order-{run}-1", client=admin),
        200,
        Order,
        "order by external id",
    )
    eq(by_key.customer_id, result.results[1].id, "order of the second customer")
    problem(
        create_order.sync_detailed(
            client=admin,
            body=OrderInput(
                customer_id=buyer.id,
                ordered_at=datetime.datetime(2026, 4, 1, tzinfo=datetime.timezone.utc),
                currency="EUR",
                items=[LineItemInput(sku="x", quantity=1, unit_price=100)],
                total=99,
            ),
        ),
        422,
        "a total that does not add up",
    )

    # Revoking the key stops it at once.
    response = revoke_api_key.sync_detailed(key.id, client=admin)
    eq(int(response.status_code), 204, "revoke status")
    problem(list_customers.sync_detailed(client=viewer), 401, "a revoked key")


if __name__ == "__main__":
    try:
        main()
    except Mismatch as e:
        print(f"client_check: MISMATCH after {checks} checks: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"client_check: {checks} checks passed with the generated client")
