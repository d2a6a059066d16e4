-- The breach queue, as GET /api/v1/tickets?sla_breached=true&sort=sla_due&limit=N runs it
-- (src/tickets/repo.rs `filtered`: a running target past due, or one met late; the service
-- binds its clock's now, UTC). bench/service.sh runs it with pgbench -M prepared,
-- :rows written in as N+1.
SELECT id, number, customer_id, contact_id, subject, description, status, priority, priority_rank,
       channel, assignee_id, tags, custom_fields, external_id, follow_up_of_id, sla_policy_id,
       first_response_due_at, resolution_due_at, first_responded_at, first_response_minutes,
       resolution_minutes, solved_at, closed_at, pending_since, paused_minutes, sla_due_sort,
       sla_missed, search_text, version, created_at, updated_at, pending_minutes
FROM tickets
WHERE (sla_due_sort < (now() AT TIME ZONE 'UTC') OR sla_missed = true)
ORDER BY sla_due_sort ASC, id ASC
LIMIT :rows;
