-- Service: business hours, SLA policies, tickets, their comments and ratings.
CREATE TABLE business_hours (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    timezone TEXT NOT NULL,
    -- JSON: [{"day": "mon", "start": "09:00", "end": "17:30"}, …]
    openings TEXT NOT NULL,
    -- JSON: ["2026-12-25", …]
    holidays TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX business_hours_created_at_id ON business_hours (created_at, id);
CREATE INDEX business_hours_name_id ON business_hours (name, id);

CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    position BIGINT NOT NULL,
    is_default BOOLEAN NOT NULL,
    match_channel TEXT,
    match_tag TEXT,
    -- NULL: targets run in calendar time.
    business_hours_id TEXT REFERENCES business_hours (id),
    -- JSON: {"urgent": {"first_response_minutes": 60, "resolution_minutes": 240}, …}
    targets TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- At most one default; the writers keep "one when any policy exists".
CREATE UNIQUE INDEX sla_policies_one_default ON sla_policies (is_default) WHERE is_default;
CREATE INDEX sla_policies_position_id ON sla_policies (position, id);
CREATE INDEX sla_policies_created_at_id ON sla_policies (created_at, id);
CREATE INDEX sla_policies_business_hours ON sla_policies (business_hours_id);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY NOT NULL,
    number BIGINT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    contact_id TEXT REFERENCES contacts (id),
    subject TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    -- 0 urgent … 3 low: the key of the priority sort.
    priority_rank BIGINT NOT NULL,
    channel TEXT,
    assignee_id TEXT REFERENCES users (id),
    tags TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    external_id TEXT UNIQUE,
    follow_up_of_id TEXT REFERENCES tickets (id),
    -- No foreign key: a closed ticket keeps the id of the policy it was measured by.
    sla_policy_id TEXT,
    first_response_due_at TIMESTAMP,
    resolution_due_at TIMESTAMP,
    first_responded_at TIMESTAMP,
    -- Minutes to the first response and to the (last) solution, on the policy's clock.
    first_response_minutes BIGINT,
    resolution_minutes BIGINT,
    solved_at TIMESTAMP,
    closed_at TIMESTAMP,
    -- Set while pending: the resolution clock is paused since then.
    pending_since TIMESTAMP,
    -- Minutes spent pending while the resolution target ran, on the policy's clock.
    paused_minutes BIGINT NOT NULL DEFAULT 0,
    -- The earliest target still running, or 9999-12-31 when none: the key of the
    -- sla_due sort and, compared with now, of the sla_breached filter.
    sla_due_sort TIMESTAMP NOT NULL,
    -- A target was met late (a running target past due shows in sla_due_sort).
    sla_missed BOOLEAN NOT NULL,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX tickets_created_at_id ON tickets (created_at, id);
CREATE INDEX tickets_updated_at_id ON tickets (updated_at, id);
CREATE INDEX tickets_priority_id ON tickets (priority_rank, id);
CREATE INDEX tickets_sla_due_id ON tickets (sla_due_sort, id);
CREATE INDEX tickets_status ON tickets (status, created_at, id);
CREATE INDEX tickets_channel ON tickets (channel, created_at, id);
-- An agent's queue by due time; unassigned is the NULL part.
CREATE INDEX tickets_assignee ON tickets (assignee_id, sla_due_sort, id);
-- The customer's tickets, their timeline branch and the 409 of a customer delete.
CREATE INDEX tickets_customer ON tickets (customer_id, created_at, id);
CREATE INDEX tickets_contact ON tickets (contact_id, created_at, id);
CREATE INDEX tickets_follow_up_of ON tickets (follow_up_of_id);
CREATE INDEX tickets_sla_policy ON tickets (sla_policy_id);
CREATE INDEX tickets_sla_missed ON tickets (sla_due_sort, id) WHERE sla_missed;
-- The autoclose sweep's claim.
CREATE INDEX tickets_solved ON tickets (solved_at, id) WHERE status = 'solved';

CREATE TABLE ticket_comments (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    body TEXT NOT NULL,
    public BOOLEAN NOT NULL,
    author_type TEXT NOT NULL,
    author_id TEXT NOT NULL,
    edited_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments (ticket_id, created_at, id);

-- Each time a solved ticket was reopened, for the tickets report.
CREATE TABLE ticket_reopens (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    reopened_at TIMESTAMP NOT NULL,
    PRIMARY KEY (ticket_id, reopened_at)
);
CREATE INDEX ticket_reopens_reopened_at ON ticket_reopens (reopened_at);

-- Satisfaction (CSAT): at most one rating per ticket.
CREATE TABLE ticket_ratings (
    ticket_id TEXT PRIMARY KEY NOT NULL REFERENCES tickets (id),
    rating INTEGER NOT NULL,
    comment TEXT,
    rated_at TIMESTAMP NOT NULL
);
CREATE INDEX ticket_ratings_rated_at ON ticket_ratings (rated_at);
-- Ticket numbers: handed out in order, never reused.
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('ticket_numbers', 0);
