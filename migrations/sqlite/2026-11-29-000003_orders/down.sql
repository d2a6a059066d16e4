DROP TABLE order_items;
DROP TABLE orders;
DROP INDEX customers_total_spent_id;
DROP INDEX customers_last_order_id;
DROP INDEX customers_order_count_id;
ALTER TABLE customers DROP COLUMN value_order_count;
ALTER TABLE customers DROP COLUMN value_total_spent;
ALTER TABLE customers DROP COLUMN value_last_order_at;
ALTER TABLE customers DROP COLUMN value_figures;
