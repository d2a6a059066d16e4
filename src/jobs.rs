//! Background jobs: work the service does by itself, on a schedule, on
//! every replica. A job keeps no state in the process: each round claims its
//! rows in the database (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so
//! replicas running the same job at once share the work and never do a
//! piece twice. Changes a job makes are events by the system actor. The
//! solved-ticket sweep is the first job; webhook delivery is meant to be
//! the next one.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::db::{self, DbConn};
use crate::error::ApiResult;
use crate::state::AppState;

/// One kind of background work.
pub trait Job: Send + Sync {
    fn name(&self) -> &'static str;
    /// Does one round of work in as many short transactions as it needs;
    /// returns how many items it handled.
    fn run(&self, conn: &mut DbConn) -> ApiResult<usize>;
}

/// Rows each transaction of a job claims: short transactions keep locks
/// brief and let other replicas take the next rows.
pub const BATCH: i64 = 100;

/// Closes tickets solved longer ago than `after`.
pub struct AutocloseSolved {
    pub after: chrono::Duration,
}

impl Job for AutocloseSolved {
    fn name(&self) -> &'static str {
        "autoclose solved tickets"
    }

    fn run(&self, conn: &mut DbConn) -> ApiResult<usize> {
        let cutoff = db::to_utc(db::now()) - self.after;
        let mut total = 0;
        loop {
            let closed = db::write_tx(conn, |tx| {
                crate::tickets::repo::close_solved(tx, cutoff, BATCH)
            })?;
            total += closed;
            if (closed as i64) < BATCH {
                return Ok(total);
            }
        }
    }
}

/// The service's jobs as configured.
pub fn all(config: &crate::config::Config) -> Vec<Box<dyn Job>> {
    vec![Box::new(AutocloseSolved {
        after: chrono::Duration::days(config.ticket_autoclose_days),
    })]
}

/// Runs `jobs` every `every` on a thread of their own (their work is
/// blocking database work), until the service's state is gone.
pub fn spawn(
    state: &Arc<AppState>,
    jobs: Vec<Box<dyn Job>>,
    every: Duration,
) -> anyhow::Result<()> {
    let state: Weak<AppState> = Arc::downgrade(state);
    std::thread::Builder::new()
        .name("crm-jobs".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(state) = state.upgrade() else {
                return;
            };
            for job in &jobs {
                run_once(&state.pool, job.as_ref());
            }
        })?;
    Ok(())
}

/// One round of `job` on a pooled connection; failures are logged and the
/// job tries again next round.
pub fn run_once(pool: &db::Pool, job: &dyn Job) -> usize {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            log::warn!("job {}: database unavailable: {e}", job.name());
            return 0;
        }
    };
    match job.run(&mut conn) {
        Ok(0) => 0,
        Ok(n) => {
            log::info!("job {}: {n} done", job.name());
            n
        }
        Err(e) => {
            log::warn!("job {}: {e}", job.name());
            0
        }
    }
}
