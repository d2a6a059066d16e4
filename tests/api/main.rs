//! Integration tests: the real service over HTTP, on SQLite and PostgreSQL.

mod common;
mod contract;
mod customers;
mod resilience;
