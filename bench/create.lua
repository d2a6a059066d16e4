-- POST /api/v1/customers: a new customer per request. No email or
-- external_id, so no request collides with a unique value; the name marks the
-- rows so bench/run.sh can delete them afterwards (keeping the database at its
-- seeded size for the next run).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/api/v1/customers"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"kind":"company","name":"wrk-bench-create","lifecycle_stage":"prospect"}'
