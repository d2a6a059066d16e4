-- pgbench calibration: the same primary-key select with one fixed existing id
-- (no helper-table lookup), to show what the random-id lookup costs.
SELECT * FROM customers WHERE id = :fixed_id;
