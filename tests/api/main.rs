//! Integration tests: the real service over HTTP, on SQLite and PostgreSQL.

mod api_keys;
mod articles;
mod auth;
mod cli;
mod common;
mod conformance;
mod contacts;
mod contract;
mod customers;
mod dependents;
mod events;
mod leads_activities;
mod login_throttle;
mod ops;
mod orders;
mod replicas;
mod reports;
mod resilience;
mod sales;
mod service;
mod service_reports;
mod users;
