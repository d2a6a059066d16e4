-- Orders and their line items, and each customer's value derived from them.
ALTER TABLE customers ADD COLUMN value_order_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN value_total_spent BIGINT NOT NULL DEFAULT 0;
-- 1970-01-01 stands for "never" so that the column can carry a keyset sort.
ALTER TABLE customers ADD COLUMN value_last_order_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
ALTER TABLE customers ADD COLUMN value_figures TEXT NOT NULL DEFAULT '{}';
CREATE INDEX customers_total_spent_id ON customers (value_total_spent, id);
CREATE INDEX customers_last_order_id ON customers (value_last_order_at, id);
CREATE INDEX customers_order_count_id ON customers (value_order_count, id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    external_id TEXT UNIQUE,
    number TEXT,
    ordered_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    subtotal BIGINT NOT NULL,
    shipping BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    total BIGINT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX orders_ordered_at_id ON orders (ordered_at, id);
CREATE INDEX orders_created_at_id ON orders (created_at, id);
CREATE INDEX orders_updated_at_id ON orders (updated_at, id);
CREATE INDEX orders_total_id ON orders (total, id);
-- Serves the customer filter and each customer's value recomputation.
CREATE INDEX orders_customer_currency ON orders (customer_id, currency, ordered_at, id);
CREATE INDEX orders_customer_ordered ON orders (customer_id, ordered_at, id);
CREATE INDEX orders_status_ordered ON orders (status, ordered_at, id);
CREATE INDEX orders_currency_ordered ON orders (currency, ordered_at, id);

CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    sku TEXT NOT NULL,
    name TEXT,
    quantity BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    PRIMARY KEY (order_id, position)
);
CREATE INDEX order_items_sku ON order_items (sku, order_id);
