-- The service reports (src/reports/service.rs) read every range through an
-- index that holds all the columns they need, so that a report over a
-- million tickets is an index-only scan instead of a pass over the wide rows.

-- Solved in a range, and the backlog: tickets not solved by a time
-- (solved_at NULL or later) and created before it.
CREATE INDEX tickets_solved_at ON tickets (solved_at)
    INCLUDE (created_at, channel, priority, assignee_id);

-- Created in a range, with what the response-times report measures; the id
-- lets the ratings and reopenings join their tickets' groups from it.
CREATE INDEX tickets_report ON tickets (created_at)
    INCLUDE (id, solved_at, channel, priority, assignee_id, first_responded_at,
             first_response_due_at, first_response_minutes, resolution_due_at,
             resolution_minutes);
