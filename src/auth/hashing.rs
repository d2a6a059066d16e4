//! Password hashing, bounded. Each argon2 run allocates 19 MiB and keeps a
//! core busy for tens of milliseconds, and login needs no credentials, so
//! hashes run a few at a time (`CRM_HASH_CONCURRENCY`, default one per core);
//! later callers wait in a short queue and are then turned away with 503 and
//! `Retry-After` instead of piling up threads and memory. Hashes run on
//! their own threads at a lower CPU priority, so a flood of them cannot
//! starve the request workers of the CPU. No database connection is held
//! while a hash runs: callers read what they need first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ApiResult};

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordHashing {
    /// Feeds the hashing threads; they end when this is dropped.
    jobs: mpsc::Sender<Job>,
    /// One per hashing thread: a caller holds one from before its job is
    /// queued until it has run, so jobs never wait inside the channel.
    permits: Arc<Semaphore>,
    /// Callers waiting for a permit now.
    waiting: Arc<AtomicUsize>,
    queue_limit: usize,
    max_wait: Duration,
}

/// Leaves the queue when the waiting caller is done or gives up.
struct InQueue(Arc<AtomicUsize>);

impl Drop for InQueue {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordHashing {
    pub fn new(concurrency: usize, queue_limit: usize, max_wait: Duration) -> Self {
        let concurrency = concurrency.max(1);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..concurrency {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("crm-hash-{n}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        let job = match receiver.lock() {
                            Ok(r) => r.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start a password hashing thread: {e}");
            }
        }
        PasswordHashing {
            jobs,
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit,
            max_wait,
        }
    }

    /// A turn to hash: at once when a hashing thread is free, after a short
    /// wait in the queue, or 503 (`Busy`) when the queue is full or the wait
    /// runs out. A caller can take its turn before it reads what it needs
    /// from the database, so that only callers with a turn use connections.
    pub async fn turn(&self) -> ApiResult<HashTurn> {
        self.permit().await.map(HashTurn)
    }

    async fn permit(&self) -> ApiResult<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _in_queue = InQueue(self.waiting.clone());
        if ahead >= self.queue_limit {
            return Err(ApiError::Busy);
        }
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Busy),
        }
    }

    /// Runs `work` on a hashing thread once a permit is free. The permit
    /// travels with the work, so a caller that goes away mid-hash still
    /// counts until the hash ends.
    async fn run<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.permit().await?;
        self.run_with(permit, work).await
    }

    async fn run_with<T, F>(&self, permit: OwnedSemaphorePermit, work: F) -> ApiResult<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let out = work();
                drop(permit);
                let _ = done.send(out);
            }))
            .map_err(|_| ApiError::internal("no password hashing thread is running"))?;
        result
            .await
            .map_err(|_| ApiError::internal("a password hashing thread stopped"))
    }

    pub async fn hash(&self, password: String) -> ApiResult<String> {
        self.run(move || super::hash_password(&password)).await?
    }

    /// Checks a password in a turn taken earlier; see
    /// [`super::verify_password`]: `None` verifies a dummy hash, so an unknown
    /// account costs the same time as a known one.
    pub async fn verify_in(
        &self,
        turn: HashTurn,
        password: String,
        stored: Option<String>,
    ) -> ApiResult<bool> {
        self.run_with(turn.0, move || {
            super::verify_password(&password, stored.as_deref())
        })
        .await
    }
}

/// A caller's turn to hash, from [`PasswordHashing::turn`].
pub struct HashTurn(OwnedSemaphorePermit);

/// Hashing threads yield the CPU to request workers (nice 10; on Linux the
/// priority is per thread).
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with PRIO_PROCESS and id 0 changes only the calling
    // thread's nice value; failure leaves it unchanged, which is harmless.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Makes large allocations (argon2's 19 MiB blocks) come straight from the
/// kernel and go straight back when freed. glibc otherwise raises its mmap
/// threshold after the first such free, serves later blocks from per-thread
/// heap arenas and keeps them: measured, a login flood left 1.8 GB resident.
pub fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; any value is valid, and
    // fixing the threshold is glibc's documented way to disable its dynamic
    // adjustment.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn verify(
        hashing: &PasswordHashing,
        password: &str,
        stored: Option<String>,
    ) -> ApiResult<bool> {
        let turn = hashing.turn().await?;
        hashing.verify_in(turn, password.into(), stored).await
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        actix_web::rt::System::new().block_on(f)
    }

    #[test]
    fn a_full_queue_turns_callers_away_at_once() {
        run(async {
            let hashing = PasswordHashing::new(1, 0, Duration::from_secs(5));
            let held = hashing.permit().await.map_err(|e| e.to_string());
            assert!(held.is_ok());
            let started = std::time::Instant::now();
            assert!(matches!(hashing.permit().await, Err(ApiError::Busy)));
            assert!(started.elapsed() < Duration::from_secs(1));
            assert_eq!(hashing.waiting.load(Ordering::SeqCst), 0);
        });
    }

    #[test]
    fn a_queued_caller_gets_the_next_permit_or_gives_up() {
        run(async {
            let hashing = PasswordHashing::new(1, 4, Duration::from_millis(50));
            let held = hashing.permit().await.map_err(|e| e.to_string());
            // Nobody releases within the wait: 503.
            assert!(matches!(hashing.permit().await, Err(ApiError::Busy)));
            drop(held);
            // Now one is free.
            assert!(hashing.permit().await.is_ok());
            assert_eq!(hashing.waiting.load(Ordering::SeqCst), 0);
        });
    }

    #[test]
    fn verify_accepts_the_right_password_only() {
        run(async {
            let hashing = PasswordHashing::new(2, 2, Duration::from_secs(5));
            let hash = hashing
                .hash("correct horse".into())
                .await
                .map_err(|e| e.to_string());
            let hash = hash.unwrap_or_default();
            assert!(matches!(
                verify(&hashing, "correct horse", Some(hash.clone())).await,
                Ok(true)
            ));
            assert!(matches!(
                verify(&hashing, "wrong", Some(hash)).await,
                Ok(false)
            ));
            assert!(matches!(verify(&hashing, "wrong", None).await, Ok(false)));
        });
    }
}
