-- An agent's queue (`assignee_id=…&status=open,pending&sort=sla_due`) reads
-- the agent's open and pending tickets in due order, one page and no more.
-- `tickets_unsolved_assignee` (which also held `new`) was combined with
-- `tickets_status` by PostgreSQL once statistics changed on a million
-- tickets; an index whose predicate is the queue's own keeps the plan put.
-- See docs/performance.md, issue 7.
DROP INDEX IF EXISTS tickets_unsolved_assignee;
CREATE INDEX IF NOT EXISTS tickets_open_assignee ON tickets (assignee_id, sla_due_sort, id)
    WHERE status IN ('open', 'pending');
