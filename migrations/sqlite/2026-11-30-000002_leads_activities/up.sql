-- Sales: leads and their conversion, activities and tasks, and each record's last activity.
CREATE TABLE leads (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    company_name TEXT,
    email TEXT,
    phone TEXT,
    title TEXT,
    source TEXT,
    status TEXT NOT NULL,
    score BIGINT NOT NULL,
    unqualified_reason TEXT,
    owner_id TEXT REFERENCES users (id),
    tags TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    external_id TEXT UNIQUE,
    converted_at TIMESTAMP,
    converted_customer_id TEXT REFERENCES customers (id),
    converted_contact_id TEXT REFERENCES contacts (id),
    converted_opportunity_id TEXT REFERENCES opportunities (id),
    last_activity_at TIMESTAMP,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX leads_created_at_id ON leads (created_at, id);
CREATE INDEX leads_updated_at_id ON leads (updated_at, id);
CREATE INDEX leads_score_id ON leads (score, id);
CREATE INDEX leads_name_id ON leads (name, id);
CREATE INDEX leads_status ON leads (status, created_at, id);
-- Serve the source filter and the lead funnel grouped by source or owner.
CREATE INDEX leads_source ON leads (source, created_at, id);
CREATE INDEX leads_owner ON leads (owner_id, created_at, id);
-- Serve the timeline's conversions and clearing a deleted record's links.
CREATE INDEX leads_converted_customer ON leads (converted_customer_id, converted_at);
CREATE INDEX leads_converted_contact ON leads (converted_contact_id);
CREATE INDEX leads_converted_opportunity ON leads (converted_opportunity_id);

-- No foreign key on SQLite: it could not drop the column again (down.sql);
-- the service checks the lead and clears the link when the lead goes.
ALTER TABLE opportunities ADD COLUMN source_lead_id TEXT;
CREATE INDEX opportunities_source_lead ON opportunities (source_lead_id);
ALTER TABLE customers ADD COLUMN last_activity_at TIMESTAMP;

CREATE TABLE activities (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT,
    direction TEXT,
    occurred_at TIMESTAMP NOT NULL,
    duration_seconds BIGINT,
    due_at TIMESTAMP,
    -- due_at, or 9999-12-31 when there is none: the keyset key of its sort.
    due_sort TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    owner_id TEXT REFERENCES users (id),
    customer_id TEXT REFERENCES customers (id),
    contact_id TEXT REFERENCES contacts (id),
    lead_id TEXT REFERENCES leads (id),
    opportunity_id TEXT REFERENCES opportunities (id),
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX activities_occurred_at_id ON activities (occurred_at, id);
CREATE INDEX activities_due_sort_id ON activities (due_sort, id);
CREATE INDEX activities_created_at_id ON activities (created_at, id);
CREATE INDEX activities_updated_at_id ON activities (updated_at, id);
-- Each link: its filter, the timeline, and the linked record's last activity.
CREATE INDEX activities_customer ON activities (customer_id, occurred_at, id);
CREATE INDEX activities_contact ON activities (contact_id, occurred_at, id);
CREATE INDEX activities_lead ON activities (lead_id, occurred_at, id);
CREATE INDEX activities_opportunity ON activities (opportunity_id, occurred_at, id);
CREATE INDEX activities_owner ON activities (owner_id, occurred_at, id);
CREATE INDEX activities_kind ON activities (kind, occurred_at, id);
-- Open tasks (and the overdue ones) by due time.
CREATE INDEX activities_open_tasks ON activities (due_sort, id) WHERE kind = 'task' AND completed_at IS NULL;
