-- pgbench: the query behind GET /api/v1/customers?lifecycle_stage=active&sort=-created_at&limit=50
-- (the service asks for limit + 1 rows to know whether there is a next page).
SELECT * FROM customers WHERE lifecycle_stage = 'active' ORDER BY created_at DESC, id DESC LIMIT 51;
