-- All the time a ticket spent pending, on its policy's clock: what its
-- resolution time leaves out. `paused_minutes` stays the part that moved the
-- resolution due time (pauses that began before the target was breached).
ALTER TABLE tickets ADD COLUMN pending_minutes BIGINT NOT NULL DEFAULT 0;
UPDATE tickets SET pending_minutes = paused_minutes WHERE paused_minutes <> 0;
