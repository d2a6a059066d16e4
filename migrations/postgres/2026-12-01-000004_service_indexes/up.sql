-- An agent's queue (`assignee_id=…&status=open,pending&sort=sla_due`, or any
-- other subset of the unsolved statuses; `unassigned=true` is the NULL part)
-- reads the agent's unsolved tickets in due order: as fast with a million
-- tickets as with ten thousand, where `tickets_assignee` made PostgreSQL
-- combine every ticket the agent ever had with every open ticket (bitmap AND)
-- and sort. See docs/performance.md, issue 7.
CREATE INDEX tickets_unsolved_assignee ON tickets (assignee_id, sla_due_sort, id)
    WHERE status IN ('new', 'open', 'pending');
