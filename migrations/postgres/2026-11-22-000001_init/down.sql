DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE record_tags;
DROP TABLE contacts;
DROP TABLE customers;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE settings;
