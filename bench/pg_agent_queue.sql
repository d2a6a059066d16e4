-- An agent's queue, as GET /api/v1/tickets?assignee_id=:agent&status=open,pending&sort=sla_due&limit=N
-- runs it (src/tickets/repo.rs `filtered`, TicketSort::SlaDue, load_page! asks for one row more
-- than the page). bench/service.sh runs it with pgbench -M prepared -D agent=<id>, :rows
-- written in as N+1.
SELECT id, number, customer_id, contact_id, subject, description, status, priority, priority_rank,
       channel, assignee_id, tags, custom_fields, external_id, follow_up_of_id, sla_policy_id,
       first_response_due_at, resolution_due_at, first_responded_at, first_response_minutes,
       resolution_minutes, solved_at, closed_at, pending_since, paused_minutes, sla_due_sort,
       sla_missed, search_text, version, created_at, updated_at, pending_minutes
FROM tickets
WHERE status IN ('open', 'pending') AND assignee_id = :agent
ORDER BY sla_due_sort ASC, id ASC
LIMIT :rows;
