DROP INDEX activities_ticket;
ALTER TABLE activities DROP COLUMN ticket_id;
