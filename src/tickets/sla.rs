//! A ticket's SLA clock. The stored fields (due times, when the ticket was
//! answered, solved and put on hold) say everything: whether a target is
//! met, breached or running is computed from them and the current time, so
//! a breach shows the moment it happens, without a job. `sla_due_sort` (the
//! earliest running target) and `sla_missed` (a target met late) are stored
//! for the queue sorts and the breach filter.

use chrono::{DateTime, Utc};

use super::{Sla, SlaOutcome, Ticket, TicketStatus};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::sla_policies::{Applied, Clock};

/// The bookkeeping of the resolution clock's pauses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaState {
    /// Set while pending.
    pub pending_since: Option<DateTime<Utc>>,
    /// Minutes spent pending while the resolution target ran, on the
    /// policy's clock; the resolution due time is that much later.
    pub paused_minutes: i64,
    /// All the minutes spent pending, on the policy's clock (also after
    /// the target was breached): left out of the resolution time.
    pub pending_minutes: i64,
}

/// Whether a ticket may go from `from` to `to` (`closed` is final and is
/// checked before; this is about the statuses a change may name).
pub fn check_transition(from: TicketStatus, to: TicketStatus) -> ApiResult<()> {
    use TicketStatus::*;
    let allowed = from == to || !matches!((from, to), (_, New) | (Solved, Pending) | (Closed, _));
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Conflict {
            detail: format!(
                "a {} ticket cannot become {}{}",
                from.as_str(),
                to.as_str(),
                if from == Solved {
                    " (reopen it to open)"
                } else {
                    ""
                }
            ),
            field: "status".into(),
            existing_id: None,
        })
    }
}

fn late(stop: Option<DateTime<Utc>>, due: Option<DateTime<Utc>>) -> bool {
    matches!((stop, due), (Some(s), Some(d)) if s > d)
}

impl Ticket {
    /// When the first-response target stopped: at the first response, or
    /// when the ticket was solved without one.
    fn first_response_stop(&self) -> Option<DateTime<Utc>> {
        self.first_responded_at.or(self.solved_at)
    }

    /// The earliest target still running, or far in the future when none
    /// is (the key of the `sla_due` sort).
    pub fn sla_due_sort(&self) -> DateTime<Utc> {
        let first = match self.first_response_stop() {
            None => self.first_response_due_at,
            Some(_) => None,
        };
        let resolution = match (self.solved_at, self.clock.pending_since) {
            (None, None) => self.resolution_due_at,
            _ => None,
        };
        [first, resolution]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| db::to_utc(crate::activities::no_due()))
    }

    /// Whether a target was missed in a way the running clock no longer
    /// shows: answered or solved late, or put on hold after the resolution
    /// was due.
    pub fn sla_missed(&self) -> bool {
        late(self.first_response_stop(), self.first_response_due_at)
            || late(self.solved_at, self.resolution_due_at)
            || (self.solved_at.is_none() && late(self.clock.pending_since, self.resolution_due_at))
    }

    /// Where the targets stand at `now`; None without a policy.
    pub fn sla_as_of(&self, now: DateTime<Utc>) -> Option<Sla> {
        self.sla_policy_id.as_ref()?;
        let outcome = |stop: Option<DateTime<Utc>>, due: Option<DateTime<Utc>>| match (stop, due) {
            (_, None) => SlaOutcome::Due,
            (Some(s), Some(d)) if s <= d => SlaOutcome::Met,
            (Some(_), Some(_)) => SlaOutcome::Breached,
            (None, Some(d)) if now > d => SlaOutcome::Breached,
            (None, Some(_)) => SlaOutcome::Due,
        };
        let paused = self.solved_at.is_none() && self.clock.pending_since.is_some();
        let resolution = match self.clock.pending_since {
            Some(p) if paused => match self.resolution_due_at {
                Some(d) if p > d => SlaOutcome::Breached,
                _ => SlaOutcome::Due,
            },
            _ => outcome(self.solved_at, self.resolution_due_at),
        };
        Some(Sla {
            first_response: outcome(self.first_response_stop(), self.first_response_due_at),
            resolution,
            paused,
        })
    }

    /// Settles the SLA fields after a change from status `before` to the
    /// ticket's status at `now`: pauses and resumes the resolution clock,
    /// stamps solving and closing, and, when `recompute` (a new ticket, or
    /// its priority, channel, tags or pauses changed), takes the due times
    /// from `applied` anew.
    pub fn settle(
        &mut self,
        before: TicketStatus,
        now: DateTime<Utc>,
        applied: Option<&Applied>,
        mut recompute: bool,
    ) {
        let calendar = Clock::Calendar;
        let clock = applied.map(|a| &a.clock).unwrap_or(&calendar);
        let after = self.status;
        if before == TicketStatus::Pending && after != TicketStatus::Pending {
            if let Some(since) = self.clock.pending_since.take() {
                let pause = clock.minutes_between(since, now);
                self.clock.pending_minutes += pause;
                // A target already breached stays breached: its pause does
                // not move it.
                if self.resolution_due_at.is_none_or(|due| since < due) {
                    self.clock.paused_minutes += pause;
                    recompute = true;
                }
            }
        }
        if after == TicketStatus::Pending && before != TicketStatus::Pending {
            self.clock.pending_since = Some(now);
        }
        if after == TicketStatus::Solved && before != TicketStatus::Solved {
            self.solved_at = Some(now);
        }
        if after == TicketStatus::Closed {
            self.closed_at = self.closed_at.or(Some(now));
            self.solved_at = self.solved_at.or(Some(now));
        }
        if before == TicketStatus::Solved && after == TicketStatus::Open {
            self.solved_at = None;
        }
        if recompute {
            match applied {
                None => {
                    self.sla_policy_id = None;
                    self.first_response_due_at = None;
                    self.resolution_due_at = None;
                }
                Some(a) => {
                    let target = a.policy.targets.of(self.priority);
                    self.sla_policy_id = Some(a.policy.id.clone());
                    self.first_response_due_at =
                        a.clock.add(self.created_at, target.first_response_minutes);
                    self.resolution_due_at = a.clock.add(
                        self.created_at,
                        target.resolution_minutes + self.clock.paused_minutes,
                    );
                }
            }
        }
        self.first_response_minutes = self
            .first_responded_at
            .map(|at| clock.minutes_between(self.created_at, at));
        self.resolution_minutes = self.solved_at.map(|at| {
            (clock.minutes_between(self.created_at, at) - self.clock.pending_minutes).max(0)
        });
        self.sla = self.sla_as_of(now);
    }
}
