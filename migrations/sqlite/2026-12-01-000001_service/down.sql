DROP TABLE ticket_ratings;
DROP TABLE ticket_reopens;
DROP TABLE ticket_comments;
DROP TABLE tickets;
DROP TABLE counters;
DROP TABLE sla_policies;
DROP TABLE business_hours;
