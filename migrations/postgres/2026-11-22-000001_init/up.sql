CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- Tokens issued before this time are refused (set on a password change).
    tokens_valid_after TIMESTAMP
);
CREATE INDEX users_created_at_id ON users (created_at, id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMP,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX api_keys_created_at_id ON api_keys (created_at, id);

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT UNIQUE,
    phone TEXT,
    website TEXT,
    industry TEXT,
    address_line1 TEXT,
    address_line2 TEXT,
    address_city TEXT,
    address_region TEXT,
    address_postal_code TEXT,
    address_country TEXT,
    lifecycle_stage TEXT NOT NULL,
    tier TEXT,
    email_opt_in BOOLEAN NOT NULL DEFAULT FALSE,
    sms_opt_in BOOLEAN NOT NULL DEFAULT FALSE,
    consent_updated_at TIMESTAMP,
    referred_by_id TEXT REFERENCES customers (id),
    owner_id TEXT REFERENCES users (id),
    tags TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    external_id TEXT UNIQUE,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX customers_created_at_id ON customers (created_at, id);
CREATE INDEX customers_updated_at_id ON customers (updated_at, id);
CREATE INDEX customers_name_id ON customers (name, id);
CREATE INDEX customers_kind_created ON customers (kind, created_at, id);
CREATE INDEX customers_stage_created ON customers (lifecycle_stage, created_at, id);
CREATE INDEX customers_tier_created ON customers (tier, created_at, id);
CREATE INDEX customers_owner_created ON customers (owner_id, created_at, id);
CREATE INDEX customers_country_created ON customers (address_country, created_at, id);
CREATE INDEX customers_referred_by ON customers (referred_by_id);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    first_name TEXT NOT NULL,
    last_name TEXT,
    email TEXT,
    phone TEXT,
    title TEXT,
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    external_id TEXT UNIQUE,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX contacts_created_at_id ON contacts (created_at, id);
CREATE INDEX contacts_updated_at_id ON contacts (updated_at, id);
CREATE INDEX contacts_customer_created ON contacts (customer_id, created_at, id);

CREATE TABLE record_tags (
    resource TEXT NOT NULL,
    tag TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (resource, tag, record_id)
);
CREATE INDEX record_tags_record ON record_tags (resource, record_id);

CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    resource TEXT NOT NULL,
    record_id TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL,
    data TEXT,
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX events_resource_seq ON events (resource, seq);
CREATE INDEX events_record_seq ON events (resource, record_id, seq);

CREATE TABLE idempotency_keys (
    actor_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    location TEXT,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (actor_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Substring search (`q`) on PostgreSQL: trigram indexes serve LIKE '%…%'.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX customers_search_trgm ON customers USING gin (search_text gin_trgm_ops);
CREATE INDEX contacts_search_trgm ON contacts USING gin (search_text gin_trgm_ops);
