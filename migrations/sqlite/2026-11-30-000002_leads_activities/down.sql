DROP TABLE activities;
ALTER TABLE customers DROP COLUMN last_activity_at;
DROP INDEX opportunities_source_lead;
ALTER TABLE opportunities DROP COLUMN source_lead_id;
DROP TABLE leads;
