//! Storage: one diesel connection type over SQLite and PostgreSQL, the pool,
//! embedded migrations, and the one place where blocking database work is
//! moved off the async executor.

pub mod checks;
pub mod schema;
pub mod tags;

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::ApiError;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Which database a URL names: `postgres://` or `postgresql://` selects
/// PostgreSQL, anything else is a SQLite path (optionally `sqlite://`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

#[derive(Debug)]
pub struct ConnectionManager {
    url: String,
    backend: Backend,
}

impl ConnectionManager {
    pub fn new(url: &str) -> Self {
        let backend = Backend::of_url(url);
        let url = match backend {
            Backend::Sqlite => url.strip_prefix("sqlite://").unwrap_or(url).to_string(),
            Backend::Postgres => url.to_string(),
        };
        ConnectionManager { url, backend }
    }
}

/// A pooled connection that remembers a connection-level failure, so the
/// pool drops it instead of testing every connection on checkout (which would
/// cost a round trip per request).
pub struct PoolConn {
    conn: DbConn,
    failed: bool,
}

impl std::ops::Deref for PoolConn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = PoolConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConn, r2d2::Error> {
        let conn = self.connect_db()?;
        Ok(PoolConn {
            conn,
            failed: false,
        })
    }

    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), r2d2::Error> {
        conn.conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PoolConn) -> bool {
        conn.failed || std::thread::panicking() || conn.conn.is_broken()
    }
}

impl ConnectionManager {
    fn connect_db(&self) -> Result<DbConn, r2d2::Error> {
        match self.backend {
            Backend::Postgres => establish_postgres(&self.url)
                .map(DbConn::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.url)
                    .map_err(r2d2::Error::ConnectionError)?;
                // Per-connection settings: FK enforcement is off by default in
                // SQLite, and writers wait for each other instead of failing.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// Opens a PostgreSQL connection. Every PostgreSQL connection of the process
/// should come from here: libpq would otherwise initialise OpenSSL with an
/// exit handler that frees OpenSSL's state while pool threads may still hold
/// TLS connections, crashing the process as it exits. The first
/// initialisation decides, so ours (without that handler) must come first.
pub fn establish_postgres(url: &str) -> diesel::ConnectionResult<diesel::PgConnection> {
    openssl_sys::init();
    diesel::PgConnection::establish(url)
}

/// Builds the pool and applies the migrations of the selected backend.
pub fn connect(url: &str, pool_size: u32) -> anyhow::Result<Pool> {
    let manager = ConnectionManager::new(url);
    let backend = manager.backend;
    // One direct attempt first, for one clear line when the database is unreachable.
    let mut conn = manager.connect_db().map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to the database named by DATABASE_URL: {}",
            one_line(&e)
        )
    })?;
    migrate(&mut conn, backend)?;
    drop(conn);
    r2d2::Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(pool_size.min(2)))
        .connection_timeout(Duration::from_secs(1))
        .test_on_check_out(false)
        .error_handler(Box::new(OneLineErrors))
        .build(manager)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to the database named by DATABASE_URL: {}",
                one_line(&e)
            )
        })
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Logs pool errors (such as a database that went away) as single lines.
#[derive(Debug)]
struct OneLineErrors;

impl r2d2::HandleError<r2d2::Error> for OneLineErrors {
    fn handle_error(&self, error: r2d2::Error) {
        log::warn!("database connection failed: {}", one_line(&error));
    }
}

/// Applies pending migrations. On PostgreSQL a session advisory lock makes
/// replicas that start together migrate one after the other.
pub fn migrate(conn: &mut DbConn, backend: Backend) -> anyhow::Result<()> {
    const MIGRATION_LOCK_KEY: i64 = 0x00C0_FFEE_0E5E_0002;
    let migrations = match backend {
        Backend::Postgres => POSTGRES_MIGRATIONS,
        Backend::Sqlite => SQLITE_MIGRATIONS,
    };
    if backend == Backend::Postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
    }
    let result = conn
        .run_pending_migrations(migrations)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"));
    if backend == Backend::Postgres {
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
    }
    result
}

/// Runs database work on the blocking thread pool with a pooled connection.
/// A pool that cannot hand out a connection in time answers 503.
pub async fn run<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|e| {
            log::warn!("database unavailable: {e}");
            ApiError::Unavailable
        })?;
        let result = work(&mut conn.conn);
        if matches!(result, Err(ApiError::Unavailable)) {
            conn.failed = true;
        }
        result
    })
    .await
    .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
}

/// A connection inside a write transaction. Only [`write_tx`] makes one, and
/// every repository writer and [`crate::events::append`] takes one, so a
/// change outside a transaction (or without its event) does not compile.
pub struct Tx<'c> {
    conn: &'c mut DbConn,
}

impl Tx<'_> {
    /// The connection, for the statements of the transaction.
    pub fn conn(&mut self) -> &mut DbConn {
        self.conn
    }

    /// Runs `work` in a savepoint: when it fails, what it wrote is undone
    /// and the transaction goes on (one item of a batch failing alone).
    pub fn savepoint<T, F>(&mut self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut Tx) -> Result<T, ApiError>,
    {
        self.conn.transaction(|conn| work(&mut Tx { conn }))
    }
}

/// A write transaction. On SQLite the write lock is taken up front so that two
/// writers queue on `busy_timeout` instead of failing on a lock upgrade.
pub fn write_tx<T, F>(conn: &mut DbConn, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut Tx) -> Result<T, ApiError>,
{
    conn.transaction(|conn| {
        if let DbConn::Sqlite(c) = conn {
            c.batch_execute("UPDATE settings SET value = value WHERE 0 = 1")?;
        }
        work(&mut Tx { conn })
    })
}

/// A delete the database refused because other records still refer to the
/// row (a dependent written meanwhile): 409, not a validation error.
pub fn refused_delete(e: diesel::result::Error) -> ApiError {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ) => ApiError::Conflict {
            detail: "other records refer to this one; retry once they are gone".into(),
            field: "id".into(),
            existing_id: None,
        },
        other => other.into(),
    }
}

/// Runs a statement on the concrete connection: for the few statements the
/// backend-generic connection cannot express (multi-row inserts), and for
/// reading one record, the hottest query. The generic connection writes every
/// query out as SQL text before handing it over, even when the prepared
/// statement is cached; skipping that cut the service's CPU per get-by-id by
/// about a fifth (docs/performance.md).
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgresql($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Reads the row `id` (or the row whose unique `$key` is the value given)
/// of `$table` as `$row` together with
/// [`crate::auth::CallerCheck::is_valid`], on the concrete connection, for
/// [`crate::auth::authorize_read`]: `Option<($row, bool)>`.
#[macro_export]
macro_rules! find_checked {
    ($table:ident, $row:ty, $conn:expr, $id:expr, $caller:expr) => {
        $crate::find_checked!($table by id, $row, $conn, $id, $caller)
    };
    ($table:ident by $key:ident, $row:ty, $conn:expr, $id:expr, $caller:expr) => {
        $crate::on_backend!($conn, |c| $table::table
            .filter($table::$key.eq($id))
            .select((
                <$row as diesel::SelectableHelper<_>>::as_select(),
                $caller.is_valid()
            ))
            .first::<($row, bool)>(c)
            .optional())
        .map_err($crate::error::ApiError::from)
    };
}

/// Locks a row at `version` with a guarded no-op update; true when the row
/// still had that version. Used with `IfMatch::read_locked`.
#[macro_export]
macro_rules! lock_at_version {
    ($table:ident, $conn:expr, $id:expr, $version:expr) => {
        diesel::update($table::table.find($id).filter($table::version.eq($version)))
            .set($table::version.eq($version))
            .execute($conn)
            .map(|rows| rows == 1)
            .map_err($crate::error::ApiError::from)
    };
}

pub fn is_postgres(conn: &DbConn) -> bool {
    matches!(conn, DbConn::Postgresql(_))
}

/// The current time as both backends store it (microsecond precision).
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

pub fn from_utc(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc().trunc_subsecs(6)
}

/// A new record id: UUID v7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
