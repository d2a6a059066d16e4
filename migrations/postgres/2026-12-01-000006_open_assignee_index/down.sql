DROP INDEX IF EXISTS tickets_open_assignee;
CREATE INDEX IF NOT EXISTS tickets_unsolved_assignee ON tickets (assignee_id, sla_due_sort, id)
    WHERE status IN ('new', 'open', 'pending');
