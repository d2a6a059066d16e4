-- Activities may link to a ticket (a call about it, a follow-up task).
ALTER TABLE activities ADD COLUMN ticket_id TEXT REFERENCES tickets (id);
CREATE INDEX activities_ticket ON activities (ticket_id, occurred_at, id);
