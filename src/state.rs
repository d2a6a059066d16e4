//! What every request handler shares. Built once by [`crate::start`]; lower
//! layers (auth, http, db) take it from here, never from the application root.

use crate::auth::hashing::PasswordHashing;
use crate::auth::throttle::LoginThrottle;
use crate::auth::TokenKeys;
use crate::db::Pool;
use crate::ops::ReadyCheck;

pub struct AppState {
    pub pool: Pool,
    pub tokens: TokenKeys,
    /// Keys the fingerprints of idempotent requests.
    pub request_hash_salt: Vec<u8>,
    /// Runs password hashes a few at a time, off the database connections.
    pub hashing: PasswordHashing,
    /// Failed-login limits, kept in the database so replicas share them.
    pub login_throttle: LoginThrottle,
    /// How long a refused sign-in waits before its answer.
    pub login_refusal_delay: std::time::Duration,
    /// The last database check behind `/ready`.
    pub ready: ReadyCheck,
    /// When this process last deleted expired idempotency keys.
    pub idempotency_cleanup: crate::http::idempotency::Cleanup,
}
