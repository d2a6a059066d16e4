//! Failed-login throttling, kept in the database so that every replica
//! applies the same limits. Failures are counted per account (by the email
//! asked for, whether or not such a user exists, so the answer reveals
//! nothing) and per client address, within a window (15 minutes by default)
//! that starts at the first failure. From the limit on, the key is locked:
//! 30 seconds (a thirtieth of the window) after the failure that reached the
//! limit, doubling with each failure after a lock ends, never longer than the
//! window. A refused attempt only reads, so a flood of them costs one indexed
//! lookup each, and a lock seen in the database is remembered in the process
//! for a second, so a flood against a locked account or address does not
//! reach the database at all (an admin's reset takes effect on every replica
//! within that second). A successful sign-in clears the account's count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::login_throttle as lt;
use crate::db::{self, DbConn};
use crate::error::ApiResult;

#[derive(Debug)]
pub struct LoginThrottle {
    pub max_failures_per_account: i32,
    pub max_failures_per_address: i32,
    pub window: chrono::Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Locks read from the database in the last second: key -> (locked
    /// until, when read).
    recent_locks: Mutex<HashMap<String, (NaiveDateTime, Instant)>>,
}

/// How long a lock read from the database is trusted without reading again.
const REMEMBER_LOCKS_FOR: Duration = Duration::from_secs(1);
/// Beyond this many remembered locks, stale ones are dropped.
const MAX_REMEMBERED_LOCKS: usize = 10_000;

/// One counted thing: an account or a client address, with its limit.
#[derive(Debug, Clone)]
pub struct Counter {
    pub key: String,
    pub limit: i32,
}

/// A key's stored state.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = lt)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Count {
    pub key: String,
    pub failures: i32,
    pub window_start: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
}

pub fn account_key(email: &str) -> String {
    format!("email:{email}")
}

impl LoginThrottle {
    pub fn new(
        max_failures_per_account: i32,
        max_failures_per_address: i32,
        window: chrono::Duration,
        trusted_proxies: Vec<IpAddr>,
    ) -> Self {
        LoginThrottle {
            max_failures_per_account,
            max_failures_per_address,
            window,
            trusted_proxies,
            recent_locks: Mutex::new(HashMap::new()),
        }
    }

    fn recent_locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, (NaiveDateTime, Instant)>> {
        self.recent_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds to wait when one of `keys` was seen locked (until after
    /// `now`) in the database within the last second.
    pub fn locally_locked(&self, keys: &[&str], now: NaiveDateTime) -> Option<i64> {
        let recent = self.recent_locks();
        let counts: Vec<Count> = keys
            .iter()
            .filter_map(|k| recent.get(*k).map(|entry| (k, entry)))
            .filter(|(_, (_, read_at))| read_at.elapsed() < REMEMBER_LOCKS_FOR)
            .map(|(k, (until, _))| Count {
                key: k.to_string(),
                failures: 0,
                window_start: now,
                locked_until: Some(*until),
            })
            .collect();
        Self::retry_after(&counts, now)
    }

    /// Remembers the locks among `counts` for a second.
    pub fn remember(&self, counts: &[Count], now: NaiveDateTime) {
        let locked: Vec<_> = counts
            .iter()
            .filter_map(|c| {
                c.locked_until
                    .filter(|t| *t > now)
                    .map(|t| (c.key.clone(), t))
            })
            .collect();
        if locked.is_empty() {
            return;
        }
        let mut recent = self.recent_locks();
        if recent.len() >= MAX_REMEMBERED_LOCKS {
            recent.retain(|_, (_, read_at)| read_at.elapsed() < REMEMBER_LOCKS_FOR);
            if recent.len() >= MAX_REMEMBERED_LOCKS {
                recent.clear();
            }
        }
        let read_at = Instant::now();
        for (key, until) in locked {
            recent.insert(key, (until, read_at));
        }
    }

    /// Forgets a remembered lock (after a reset in this process).
    pub fn forget(&self, key: &str) {
        self.recent_locks().remove(key);
    }

    /// The counters a sign-in for `email` from `address` touches.
    pub fn counters(&self, email: &str, address: IpAddr) -> [Counter; 2] {
        [
            Counter {
                key: account_key(email),
                limit: self.max_failures_per_account,
            },
            Counter {
                key: format!("addr:{address}"),
                limit: self.max_failures_per_address,
            },
        ]
    }

    /// The client's address: the peer's, or, when the peer is a trusted
    /// proxy, the nearest untrusted address in `X-Forwarded-For` (read from
    /// the right, since a client can prepend anything it likes).
    pub fn client_address(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer)
    }

    fn base_lock(&self) -> chrono::Duration {
        (self.window / 30).max(chrono::Duration::seconds(1))
    }

    /// How long a key stays locked after its `failures`-th failure.
    fn lock_for(&self, failures: i32, limit: i32) -> Option<chrono::Duration> {
        let beyond = failures.checked_sub(limit)?;
        if beyond < 0 {
            return None;
        }
        let doublings = beyond.min(20) as u32;
        Some((self.base_lock() * 2i32.pow(doublings)).min(self.window))
    }

    /// The stored state of these keys.
    pub fn read(conn: &mut DbConn, keys: &[&str]) -> ApiResult<Vec<Count>> {
        Ok(lt::table
            .filter(lt::key.eq_any(keys))
            .select(Count::as_select())
            .load(conn)?)
    }

    /// Whole seconds until every lock among `counts` has passed (at least
    /// one), or `None` when none is locked now.
    pub fn retry_after(counts: &[Count], now: NaiveDateTime) -> Option<i64> {
        counts
            .iter()
            .filter_map(|c| c.locked_until)
            .filter(|t| *t > now)
            .max()
            .map(|t| {
                let micros = (t - now).num_microseconds().unwrap_or(i64::MAX);
                (micros.saturating_add(999_999) / 1_000_000).max(1)
            })
    }

    /// Counts one failed sign-in against each counter, in one transaction;
    /// each row is locked while it is read and written, so replicas counting
    /// at once all count.
    pub fn record_failure(&self, conn: &mut DbConn, counters: &[Counter]) -> ApiResult<()> {
        let now = db::now();
        db::write_tx(conn, |tx| {
            for counter in counters {
                self.count_one(tx.conn(), counter, now)?;
            }
            Ok(())
        })
    }

    fn count_one(&self, conn: &mut DbConn, counter: &Counter, now: NaiveDateTime) -> ApiResult<()> {
        let key = counter.key.as_str();
        crate::on_backend!(&mut *conn, |c| diesel::insert_into(lt::table)
            .values((
                lt::key.eq(key),
                lt::failures.eq(0),
                lt::window_start.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        let query = lt::table
            .find(key)
            .select((lt::failures, lt::window_start, lt::locked_until));
        let (mut failures, mut window_start, locked_until): (
            i32,
            NaiveDateTime,
            Option<NaiveDateTime>,
        ) = match conn {
            DbConn::Postgresql(c) => query.for_update().first(c)?,
            // The write transaction already holds SQLite's only write lock.
            DbConn::Sqlite(c) => query.first(c)?,
        };
        let locked = locked_until.is_some_and(|t| t > now);
        if !locked && now >= window_start + self.window {
            failures = 0;
            window_start = now;
        }
        failures = failures.saturating_add(1);
        let locked_until = match self.lock_for(failures, counter.limit) {
            Some(lock) => Some(now + lock),
            None => locked_until.filter(|t| *t > now),
        };
        diesel::update(lt::table.find(key))
            .set((
                lt::failures.eq(failures),
                lt::window_start.eq(window_start),
                lt::locked_until.eq(locked_until),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Forgets a key's failures (a successful sign-in, or an admin's reset).
    pub fn clear(conn: &mut DbConn, key: &str) -> ApiResult<()> {
        diesel::delete(lt::table.find(key)).execute(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(5, 50, chrono::Duration::minutes(15), vec![])
    }

    #[test]
    fn locks_are_remembered_for_a_second_only() {
        let t = throttle();
        let now = db::now();
        let count = |key: &str, locked_until| Count {
            key: key.into(),
            failures: 5,
            window_start: now,
            locked_until,
        };
        t.remember(
            &[
                count("email:a", Some(now + chrono::Duration::seconds(30))),
                count("addr:b", None),
            ],
            now,
        );
        assert_eq!(t.locally_locked(&["email:a", "addr:b"], now), Some(30));
        assert_eq!(t.locally_locked(&["email:c", "addr:b"], now), None);
        t.forget("email:a");
        assert_eq!(t.locally_locked(&["email:a"], now), None);
        t.remember(
            &[count("email:a", Some(now + chrono::Duration::seconds(30)))],
            now,
        );
        std::thread::sleep(REMEMBER_LOCKS_FOR + Duration::from_millis(50));
        assert_eq!(t.locally_locked(&["email:a"], now), None);
    }

    #[test]
    fn locks_grow_from_the_limit_and_stop_at_the_window() {
        let t = throttle();
        let secs = |n| t.lock_for(n, 5).map(|d| d.num_seconds());
        assert_eq!(secs(4), None);
        assert_eq!(secs(5), Some(30));
        assert_eq!(secs(6), Some(60));
        assert_eq!(secs(7), Some(120));
        assert_eq!(secs(10), Some(900));
        assert_eq!(secs(i32::MAX), Some(900));
    }

    #[test]
    fn retry_after_rounds_up_and_ignores_past_locks() {
        let now = db::now();
        let count = |locked_until| Count {
            key: "k".into(),
            failures: 5,
            window_start: now,
            locked_until,
        };
        assert_eq!(LoginThrottle::retry_after(&[count(None)], now), None);
        let past = now - chrono::Duration::seconds(1);
        assert_eq!(LoginThrottle::retry_after(&[count(Some(past))], now), None);
        let soon = now + chrono::Duration::milliseconds(1500);
        let later = now + chrono::Duration::seconds(30);
        assert_eq!(
            LoginThrottle::retry_after(&[count(Some(soon)), count(Some(later))], now),
            Some(30)
        );
        assert_eq!(
            LoginThrottle::retry_after(&[count(Some(soon))], now),
            Some(2)
        );
    }
}
