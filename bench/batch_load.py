#!/usr/bin/env python3
"""Load driver of bench/batch.sh (issue 8, bulk upserts). Standard library only.

    batch_load.py load  --resource customers|orders ...  POST /<resource>/batch, N workers
    batch_load.py feed  ...                              walk GET /events, check created events
    batch_load.py sql   ...                              INSERT statements for the psql baseline

`load` and `feed` read the bearer token from BENCH_TOKEN and print one JSON
object on stdout; progress and problems go to stderr.

Customer n and order n are pure functions of n, so a resend is byte for byte
the first load, and the psql baseline inserts exactly the customers the
service got.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

# --- the data ----------------------------------------------------------------

COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne")
SUFFIXES = ("GmbH", "AG", "Ltd", "Inc")
FIRST = ("Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo")
LAST = ("Meyer", "Schmidt", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch")

# Every value is already in the service's normalized form (lower-case email,
# trimmed, deduplicated tags, the lifecycle stage spelled out), so that a
# resend compares equal and comes back "unchanged".
def customer(n):
    """(kind, name, email, phone, tags JSON, custom_fields JSON, external_id)."""
    if n % 5 < 3:
        return ("company", "%s %d %s" % (COMPANIES[n % 8], n, SUFFIXES[n % 4]),
                "c%d@erp.example" % n, "+49 30 %07d" % (n % 10_000_000),
                '["erp","b2b"]', '{"erp_segment":"b2b"}', "erp-c-%d" % n)
    return ("person", "%s %s %d" % (FIRST[n % 8], LAST[(n // 8) % 8], n),
            "p%d@erp.example" % n, "+49 170 %07d" % (n % 10_000_000),
            '["erp"]', '{"erp_segment":"b2c"}', "erp-c-%d" % n)


CUSTOMER_JSON = ('{"kind":"%s","name":"%s","email":"%s","phone":"%s","lifecycle_stage":"active",'
                 '"tags":%s,"custom_fields":%s,"external_id":"%s"}')


def customer_body(first, count, _customers):
    return ('{"items":[%s]}' % ",".join(
        [CUSTOMER_JSON % customer(n) for n in range(first, first + count)])).encode()


ITEMS_PER_ORDER = 5
ORDER_JSON = ('{"customer_external_id":"erp-c-%d","external_id":"erp-o-%d","number":"SO-%08d",'
              '"ordered_at":"%s","status":"paid","currency":"EUR","items":[%s]}')
ITEM_JSON = '{"sku":"SKU-%05d","name":"Item %d","quantity":%d,"unit_price":%d}'
ORDERS_FROM = 1_735_689_600  # 2025-01-01T00:00:00Z


def order_customer(n, customers):
    # A bit-mixing hash (murmur3's finalizer) rather than n % customers:
    # orders land on customers as if at random, so some customers get
    # several and two concurrent batches now and then update the same
    # customer's value, as an ERP feed would.
    h = (n * 0x9E3779B1 + 1) & 0xFFFFFFFF
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    return (h ^ (h >> 16)) % customers


def order_body(first, count, customers):
    orders = []
    for n in range(first, first + count):
        skus = [(n * ITEMS_PER_ORDER + i) % 5000 for i in range(ITEMS_PER_ORDER)]
        items = ",".join([ITEM_JSON % (sku, sku, 1 + (n + i) % 4, 100 + (n * 31 + i * 17) % 9900)
                          for i, sku in enumerate(skus)])
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ORDERS_FROM + n * 37 % 63_072_000))
        orders.append(ORDER_JSON % (order_customer(n, customers), n, n, at, items))
    return ('{"items":[%s]}' % ",".join(orders)).encode()


BODIES = {"customers": customer_body, "orders": order_body}

# --- helpers -------------------------------------------------------------------


def pct(sorted_values, p):
    """Nearest-rank percentile of an ascending list (None if empty)."""
    if not sorted_values:
        return None
    i = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(i) - 1]


def connect(base):
    u = urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=600)


class RssSampler(threading.Thread):
    """Peak VmRSS of a process, read from /proc every `every` seconds."""

    def __init__(self, pid, every=0.5):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.first_kb = self.peak_kb = self.last_kb = 0
        self.samples = 0
        self.done = threading.Event()

    def read_kb(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self):
        while True:
            kb = self.read_kb()
            if kb:
                self.first_kb = self.first_kb or kb
                self.peak_kb, self.last_kb = max(self.peak_kb, kb), kb
                self.samples += 1
            if self.done.wait(self.every):
                return

    def stop(self):
        self.done.set()
        self.join()
        kb = self.read_kb()  # one last sample, so a short run still has one
        if kb:
            self.peak_kb, self.last_kb = max(self.peak_kb, kb), kb


# --- load ------------------------------------------------------------------------


def load(a):
    token = os.environ["BENCH_TOKEN"]
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    path = "/api/v1/%s/batch" % a.resource
    build = BODIES[a.resource]
    batches = -(-a.rows // a.batch)
    known_ids = None
    if a.ids_in:  # a resend must answer the ids the first load created
        with open(a.ids_in) as f:
            known_ids = f.read().split("\n")

    lock = threading.Lock()
    next_batch = [0]
    latencies, gen_seconds, errors = [], [0.0], []
    ids_by_batch = {}
    totals = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}
    bad = [0]  # answers that are not 200 with every item as expected

    def complain(batch, message):
        with lock:
            bad[0] += 1
            if len(errors) < 5:
                errors.append("batch %d: %s" % (batch, message[:600]))

    def worker():
        conn = connect(a.base)
        while True:
            with lock:
                b = next_batch[0]
                next_batch[0] += 1
            if b >= batches:
                break
            first = b * a.batch
            count = min(a.batch, a.rows - first)
            g0 = time.perf_counter()
            body = build(first, count, a.customers)  # built right before it is sent
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = connect(a.base)
                complain(b, "connection error: %r" % e)
                continue
            t1 = time.perf_counter()
            with lock:
                latencies.append(t1 - t0)
                gen_seconds[0] += t0 - g0
            if resp.status != 200:
                complain(b, "HTTP %d %s" % (resp.status, raw.decode(errors="replace")))
                continue
            doc = json.loads(raw)
            with lock:
                for k in totals:
                    totals[k] += doc.get(k, 0)
            results = doc.get("results", [])
            if doc.get(a.expect) != count or len(results) != count:
                first_other = next((r for r in results if r.get("status") != a.expect), None)
                complain(b, "%s=%r of %d, e.g. %s" % (a.expect, doc.get(a.expect), count,
                                                   json.dumps(first_other)))
                continue
            ids = [r.get("id") for r in results]
            if known_ids is not None and ids != known_ids[first:first + count]:
                complain(b, "ids differ from the first load's")
            elif a.ids_out:
                with lock:
                    ids_by_batch[b] = ids
        conn.close()

    rss = RssSampler(a.pid) if a.pid else None
    if rss:
        rss.start()
    cpu0, start = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    if rss:
        rss.stop()

    if a.ids_out:
        with open(a.ids_out, "w") as f:
            for b in range(batches):  # a failed batch leaves blank lines, keeping the row order
                count = min(a.batch, a.rows - b * a.batch)
                f.write("\n".join(i or "" for i in ids_by_batch.get(b, [""] * count)) + "\n")
    for e in errors:
        print("  " + e, file=sys.stderr)
    latencies.sort()
    print(json.dumps({
        "resource": a.resource, "rows": a.rows, "batch": a.batch, "concurrency": a.concurrency,
        "requests": batches, "seconds": elapsed, "rows_per_s": a.rows / elapsed if elapsed else 0,
        "p50_ms": (pct(latencies, 50) or 0) * 1000, "p99_ms": (pct(latencies, 99) or 0) * 1000,
        "max_ms": (latencies[-1] if latencies else 0) * 1000,
        "bad_answers": bad[0], "ok": bad[0] == 0, **totals,
        "driver_cpu_s": cpu, "generator_s": gen_seconds[0],
        "rss_start_mb": rss.first_kb / 1024 if rss else None,
        "rss_peak_mb": rss.peak_kb / 1024 if rss else None,
        "rss_end_mb": rss.last_kb / 1024 if rss else None,
    }))


# --- feed ------------------------------------------------------------------------


def feed(a):
    """Walks the whole change feed once and checks that every loaded record has
    exactly one `created` event and nothing else happened to it (a resend of
    unchanged records writes no event)."""
    headers = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}
    expected = {}
    for spec in a.expect:  # resource=ids-file
        resource, path = spec.split("=", 1)
        with open(path) as f:
            expected[resource] = set(line for line in f.read().split("\n") if line)
    created = {r: set() for r in expected}
    duplicates = {r: 0 for r in expected}
    other = {r: {} for r in expected}  # action -> count, for actions but "created"
    conn = connect(a.base)
    after, pages, events, start = a.after, 0, 0, time.perf_counter()
    while True:
        conn.request("GET", "/api/v1/events?after=%d&limit=%d" % (after, a.limit), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            sys.exit("feed: HTTP %d after=%d: %s" % (resp.status, after, raw[:600]))
        page = json.loads(raw)
        pages += 1
        for e in page["data"]:
            events += 1
            r = e["resource"]
            if r not in expected:
                continue
            if e["action"] == "created":
                if e["record_id"] in created[r]:
                    duplicates[r] += 1
                created[r].add(e["record_id"])
            else:
                other[r][e["action"]] = other[r].get(e["action"], 0) + 1
        if page["next_after"] <= after and page["data"]:
            sys.exit("feed: next_after %r does not advance past %d" % (page["next_after"], after))
        after = page["next_after"]
        if not page["has_more"]:
            break
        if pages % 200 == 0:
            print("  feed: %d events, after=%d" % (events, after), file=sys.stderr)
    elapsed = time.perf_counter() - start
    out = {"seconds": elapsed, "events": events, "pages": pages,
           "events_per_s": events / elapsed if elapsed else 0, "last_seq": after, "ok": True}
    for r, ids in expected.items():
        missing, extra = len(ids - created[r]), len(created[r] - ids)
        ok = not (missing or extra or duplicates[r] or other[r]) and len(created[r]) == a.rows[r]
        out[r] = {"expected": len(ids), "loaded": a.rows[r], "created_events": len(created[r]),
                  "duplicates": duplicates[r], "missing": missing, "unexpected": extra,
                  "other_events": other[r], "ok": ok}
        out["ok"] = out["ok"] and ok
    print(json.dumps(out))


# --- psql baseline -----------------------------------------------------------------

# Only the columns the service's first migration has: the statements then
# work before and after issue 8's migration adds the value_* columns (which
# take their defaults).
SQL_COLUMNS = ("id, kind, name, email, phone, lifecycle_stage, email_opt_in, sms_opt_in, tags, "
               "custom_fields, external_id, search_text, version, created_at, updated_at")
SQL_ROW = "('%s','%s','%s','%s','%s','active',false,false,'%s','%s','%s','%s',1,'%s','%s')"


def sql(a):
    """Writes one file per psql session; batch b goes to file b % sessions,
    as the API workers share their batches. None of the values needs quoting
    (see customer()), which the assert below keeps true."""
    files = [open("%s.%d.sql" % (a.out, s), "w") for s in range(a.sessions)]
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    for b in range(-(-a.rows // a.batch)):
        rows = []
        for n in range(b * a.batch, min((b + 1) * a.batch, a.rows)):
            kind, name, email, phone, tags, fields, ext = c = customer(n)
            assert not any("'" in v for v in c)
            search = ("%s %s %s" % (name, email, phone)).lower()
            rows.append(SQL_ROW % (uuid.uuid4(), kind, name, email, phone, tags, fields, ext,
                                   search, now, now))
        files[b % a.sessions].write("INSERT INTO customers (%s) VALUES\n%s\nON CONFLICT (external_id) DO NOTHING;\n"
                                    % (SQL_COLUMNS, ",\n".join(rows)))
    for f in files:
        f.close()


# --- command line --------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    lp = sub.add_parser("load", help="POST /<resource>/batch with concurrent workers")
    lp.add_argument("--base", required=True, help="service URL, e.g. http://127.0.0.1:18080")
    lp.add_argument("--resource", choices=sorted(BODIES), required=True)
    lp.add_argument("--rows", type=int, required=True)
    lp.add_argument("--customers", type=int, default=1, help="customers orders refer to")
    lp.add_argument("--batch", type=int, default=1000)
    lp.add_argument("--concurrency", type=int, default=2)
    lp.add_argument("--expect", choices=("created", "updated", "unchanged"), default="created")
    lp.add_argument("--pid", type=int, help="service process whose VmRSS to sample")
    lp.add_argument("--ids-out", help="write the answered ids, one per line in row order")
    lp.add_argument("--ids-in", help="ids the answers must carry (from an earlier --ids-out)")

    fp = sub.add_parser("feed", help="walk GET /events and check the created events")
    fp.add_argument("--base", required=True)
    fp.add_argument("--after", type=int, default=0)
    fp.add_argument("--limit", type=int, default=500)
    fp.add_argument("--expect", action="append", required=True, metavar="RESOURCE=IDS_FILE")
    fp.add_argument("--rows", action="append", required=True, metavar="RESOURCE=N",
                    help="rows loaded per resource")

    sp = sub.add_parser("sql", help="multi-row INSERT files for the psql baseline")
    sp.add_argument("--rows", type=int, required=True)
    sp.add_argument("--batch", type=int, default=1000)
    sp.add_argument("--sessions", type=int, default=2)
    sp.add_argument("--out", required=True, help="file prefix: writes PREFIX.<session>.sql")

    a = p.parse_args()
    if a.command == "feed":
        a.rows = {k: int(v) for k, v in (s.split("=", 1) for s in a.rows)}
    {"load": load, "feed": feed, "sql": sql}[a.command](a)


if __name__ == "__main__":
    main()
