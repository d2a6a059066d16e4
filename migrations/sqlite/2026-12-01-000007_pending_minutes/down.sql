ALTER TABLE tickets DROP COLUMN pending_minutes;
