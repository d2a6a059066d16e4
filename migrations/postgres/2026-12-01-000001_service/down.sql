DROP TABLE ticket_ratings;
DROP TABLE ticket_reopens;
DROP TABLE ticket_comments;
DROP TABLE tickets;
DROP SEQUENCE ticket_numbers;
DROP TABLE sla_policies;
DROP TABLE business_hours;
