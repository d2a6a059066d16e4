-- The service reports (src/reports/service.rs) read every range through an
-- index that holds all the columns they need (a covering index), so that a
-- report over many tickets does not read the wide rows.

-- Solved in a range, and the backlog: tickets not solved by a time
-- (solved_at NULL or later) and created before it.
CREATE INDEX tickets_solved_at ON tickets (solved_at, created_at, channel, priority, assignee_id);

-- Created in a range, with what the response-times report measures.
CREATE INDEX tickets_report ON tickets (created_at, solved_at, channel, priority, assignee_id,
    first_responded_at, first_response_due_at, first_response_minutes, resolution_due_at,
    resolution_minutes);
