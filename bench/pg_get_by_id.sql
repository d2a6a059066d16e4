-- pgbench: the primary-key select the service runs for GET /api/v1/customers/{id},
-- with a random id from the sampled ids (helper table bench_ids, integer key 1..N).
-- The id lookup is a subquery in the same statement: one round trip, plus one
-- primary-key probe of a tiny table (see pg_get_by_id_fixed.sql for its cost).
\set n random(1, :nids)
SELECT * FROM customers WHERE id = (SELECT id FROM bench_ids WHERE n = :n);
