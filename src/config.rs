//! Every environment variable the service reads, parsed and checked once at
//! start-up. A bad value stops start-up with one line naming the variable.

use std::fmt;
use std::net::SocketAddr;

#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database_url: String,
    pub pool_size: u32,
    /// `None`: the secret is generated once and kept in the database.
    pub jwt_secret: Option<Secret>,
    pub token_ttl_secs: i64,
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret>,
    pub cors_origins: Vec<String>,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// Password hashes that may run at once.
    pub hash_concurrency: usize,
    /// Callers that may wait for a hash slot before getting 503.
    pub hash_queue: usize,
    /// Failed sign-ins per account, and per client address, within the window.
    pub login_max_failures: i32,
    pub login_max_failures_per_address: i32,
    pub login_window_secs: i64,
    /// How long a refused sign-in (429, or 503 for want of hashing capacity)
    /// waits before it is answered.
    pub login_refusal_delay_ms: u64,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The currency of customers' `value` figures, filters and sorts.
    pub base_currency: String,
    /// Days after which a solved ticket is closed by the background sweep.
    pub ticket_autoclose_days: i64,
    /// How often each background job runs.
    pub jobs_interval_secs: u64,
}

/// A value that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("database", &crate::db::Backend::of_url(&self.database_url))
            .field("pool_size", &self.pool_size)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("cors_origins", &self.cors_origins)
            .field("hash_concurrency", &self.hash_concurrency)
            .field("login_max_failures", &self.login_max_failures)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn bad(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let addr = match get("CRM_ADDR") {
            Some(v) => v.trim().parse().map_err(|_| {
                bad(
                    "CRM_ADDR",
                    format!("`{v}` is not a host:port address such as 127.0.0.1:8080"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let database_url = get("DATABASE_URL").unwrap_or_else(|| "crm.db".to_string());
        let pool_size = match get("CRM_DB_POOL_SIZE") {
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "CRM_DB_POOL_SIZE",
                        format!("`{v}` is not a number from 1 to 1000"),
                    ))
                }
            },
            // Two per core: more connections than the CPUs can serve only add
            // scheduling delay (measured: p99 of 77 ms with 16 on 2 cores, 7 ms with 4).
            None => std::thread::available_parallelism()
                .map(|n| 2 * n.get() as u32)
                .unwrap_or(4)
                .clamp(4, 32),
        };
        let jwt_secret = match get("CRM_JWT_SECRET") {
            Some(v) if v.len() < 32 => {
                return Err(bad("CRM_JWT_SECRET", "must be at least 32 characters long"))
            }
            Some(v) => Some(Secret(v)),
            None => None,
        };
        let token_ttl_secs = match get("CRM_TOKEN_TTL_SECS") {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (60..=30 * 24 * 3600).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "CRM_TOKEN_TTL_SECS",
                        format!("`{v}` is not a number of seconds from 60 to 2592000"),
                    ))
                }
            },
            None => 3600,
        };
        let admin_email = match get("CRM_ADMIN_EMAIL") {
            Some(v) => {
                let v = v.trim().to_lowercase();
                if !validator::ValidateEmail::validate_email(&v) {
                    return Err(bad(
                        "CRM_ADMIN_EMAIL",
                        format!("`{v}` is not an email address"),
                    ));
                }
                Some(v)
            }
            None => None,
        };
        let admin_password = match get("CRM_ADMIN_PASSWORD") {
            Some(v) if v.chars().count() < 8 => {
                return Err(bad(
                    "CRM_ADMIN_PASSWORD",
                    "must be at least 8 characters long",
                ))
            }
            Some(v) => Some(Secret(v)),
            None => None,
        };
        let cors_origins = match get("CRM_CORS_ORIGINS") {
            Some(v) => {
                let origins: Vec<String> = v
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect();
                for o in &origins {
                    if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                        return Err(bad(
                            "CRM_CORS_ORIGINS",
                            format!("`{o}` is not an origin such as https://app.example.com"),
                        ));
                    }
                }
                origins
            }
            None => Vec::new(),
        };
        let workers = match get("CRM_WORKERS") {
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => Some(n),
                _ => {
                    return Err(bad(
                        "CRM_WORKERS",
                        format!("`{v}` is not a number from 1 to 256"),
                    ))
                }
            },
            None => None,
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let hash_concurrency = number(&get, "CRM_HASH_CONCURRENCY", 1, 256)?.unwrap_or(cores);
        let hash_queue = number(&get, "CRM_HASH_QUEUE", 0, 10_000)?.unwrap_or(32);
        let login_max_failures = number(&get, "CRM_LOGIN_MAX_FAILURES", 1, 1_000_000)?.unwrap_or(5);
        let login_max_failures_per_address =
            number(&get, "CRM_LOGIN_MAX_FAILURES_PER_ADDRESS", 1, 1_000_000)?.unwrap_or(50);
        let login_window_secs =
            number(&get, "CRM_LOGIN_WINDOW_SECS", 1, 7 * 24 * 3600)?.unwrap_or(900);
        let login_refusal_delay_ms =
            number(&get, "CRM_LOGIN_REFUSAL_DELAY_MS", 0, 10_000)?.unwrap_or(1000) as u64;
        let trusted_proxies = match get("CRM_TRUSTED_PROXIES") {
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse().map_err(|_| {
                        bad(
                            "CRM_TRUSTED_PROXIES",
                            format!("`{p}` is not an IP address such as 10.0.0.2"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let base_currency = match get("CRM_BASE_CURRENCY") {
            Some(v) if crate::currencies::is_code(&v.trim().to_ascii_uppercase()) => {
                v.trim().to_ascii_uppercase()
            }
            Some(v) => {
                return Err(bad(
                    "CRM_BASE_CURRENCY",
                    format!("`{v}` is not an ISO 4217 currency code such as EUR"),
                ))
            }
            None => "EUR".to_string(),
        };
        let ticket_autoclose_days = match get("CRM_TICKET_AUTOCLOSE_DAYS") {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (1..=365).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "CRM_TICKET_AUTOCLOSE_DAYS",
                        format!("`{v}` is not a number of days from 1 to 365"),
                    ))
                }
            },
            None => 4,
        };
        let jobs_interval_secs = match get("CRM_JOBS_INTERVAL_SECS") {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "CRM_JOBS_INTERVAL_SECS",
                        format!("`{v}` is not a number of seconds from 1 to 86400"),
                    ))
                }
            },
            None => 60,
        };
        Ok(Config {
            ticket_autoclose_days,
            jobs_interval_secs,
            base_currency,
            hash_concurrency,
            hash_queue,
            login_max_failures: login_max_failures as i32,
            login_max_failures_per_address: login_max_failures_per_address as i32,
            login_window_secs: login_window_secs as i64,
            login_refusal_delay_ms,
            trusted_proxies,
            addr,
            database_url,
            pool_size,
            jwt_secret,
            token_ttl_secs,
            admin_email,
            admin_password,
            cors_origins,
            workers,
        })
    }
}

/// An optional whole number from `min` to `max`.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ConfigError> {
    match get(name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(bad(
                name,
                format!("`{v}` is not a number from {min} to {max}"),
            )),
        },
    }
}
