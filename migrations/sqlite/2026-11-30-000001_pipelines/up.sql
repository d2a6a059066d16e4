-- Sales: pipelines with their stages, opportunities and their stage history.
CREATE TABLE pipelines (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    is_default BOOLEAN NOT NULL,
    currency TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Exactly one default: this makes "at most one"; the writers keep "at least one".
CREATE UNIQUE INDEX pipelines_one_default ON pipelines (is_default) WHERE is_default;
CREATE INDEX pipelines_created_at_id ON pipelines (created_at, id);

CREATE TABLE pipeline_stages (
    id TEXT PRIMARY KEY NOT NULL,
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    probability INTEGER NOT NULL,
    kind TEXT NOT NULL,
    rotting_days INTEGER
);
CREATE INDEX pipeline_stages_pipeline ON pipeline_stages (pipeline_id, position);

CREATE TABLE opportunities (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    contact_id TEXT REFERENCES contacts (id),
    name TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    pipeline_id TEXT NOT NULL REFERENCES pipelines (id),
    stage_id TEXT NOT NULL REFERENCES pipeline_stages (id),
    probability INTEGER NOT NULL,
    -- YYYY-MM-DD, text on both backends so that reports group it the same way.
    expected_close_date TEXT,
    -- The date, or 9999-12-31 when there is none: the keyset key of its sort.
    close_sort TEXT NOT NULL,
    status TEXT NOT NULL,
    lost_reason TEXT,
    closed_at TIMESTAMP,
    owner_id TEXT REFERENCES users (id),
    tags TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    external_id TEXT UNIQUE,
    stage_entered_at TIMESTAMP NOT NULL,
    last_activity_at TIMESTAMP,
    -- When an open opportunity starts rotting (its stage's rotting_days after
    -- the later of entering the stage and its last activity); NULL when never.
    rotting_at TIMESTAMP,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX opportunities_created_at_id ON opportunities (created_at, id);
CREATE INDEX opportunities_updated_at_id ON opportunities (updated_at, id);
CREATE INDEX opportunities_amount_id ON opportunities (amount, id);
CREATE INDEX opportunities_close_sort_id ON opportunities (close_sort, id);
CREATE INDEX opportunities_name_id ON opportunities (name, id);
CREATE INDEX opportunities_customer ON opportunities (customer_id, created_at, id);
CREATE INDEX opportunities_contact ON opportunities (contact_id);
CREATE INDEX opportunities_owner ON opportunities (owner_id, created_at, id);
CREATE INDEX opportunities_currency ON opportunities (currency, created_at, id);
-- Serves the pipeline, stage and status filters and the pipeline report.
CREATE INDEX opportunities_pipeline_status_stage ON opportunities (pipeline_id, status, stage_id);
CREATE INDEX opportunities_stage ON opportunities (stage_id, created_at, id);
CREATE INDEX opportunities_pipeline ON opportunities (pipeline_id, created_at, id);
CREATE INDEX opportunities_status ON opportunities (status, created_at, id);
-- Serves the forecast (open opportunities by expected close date).
CREATE INDEX opportunities_status_close ON opportunities (status, close_sort);
-- Serves the closed_* filters and the win-rate and forecast reports.
CREATE INDEX opportunities_closed_at ON opportunities (closed_at, id);
CREATE INDEX opportunities_rotting_at ON opportunities (rotting_at, id) WHERE rotting_at IS NOT NULL;

-- Every stage an opportunity was in: appended on each stage change, never rewritten.
CREATE TABLE opportunity_stages (
    id TEXT PRIMARY KEY NOT NULL,
    opportunity_id TEXT NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE,
    pipeline_id TEXT NOT NULL,
    stage_id TEXT NOT NULL,
    stage_name TEXT NOT NULL,
    entered_at TIMESTAMP NOT NULL,
    left_at TIMESTAMP,
    changed_by_type TEXT NOT NULL,
    changed_by_id TEXT NOT NULL
);
CREATE INDEX opportunity_stages_opportunity ON opportunity_stages (opportunity_id, entered_at, id);
CREATE INDEX opportunity_stages_stage ON opportunity_stages (stage_id, entered_at);
