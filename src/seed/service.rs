//! `crm seed --tickets N`: tickets over the customers (sometimes through
//! their primary contact), created over the last two years (three times as
//! many lately as two years ago, fewer at night and at weekends), each lived
//! through the way the service would have handled it: the first reply, a
//! pause while waiting for the customer, solving, the odd reopening, closing
//! by an agent or by the autoclose sweep, a rating. Every step goes through
//! the ticket's own rules (`Ticket::with` and `Ticket::settle`, with the SLA
//! policy the service would pick, exactly as `tickets::repo` and
//! `tickets::comments` apply them), so the stored SLA fields are those the
//! service would store; steps after now have not happened yet, which leaves
//! the recent tickets new, open or pending and the old ones closed. Comments
//! carry the steps' times; ratings and reopenings their rows.
//!
//! Ticket numbers come from the service's own allocator (the
//! `ticket_numbers` sequence on PostgreSQL, the counter row on SQLite), in
//! one block handed out in the order the tickets were created.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use diesel::prelude::*;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::Map;

use super::text::{vocabulary, Topic};
use super::TagRow;
use crate::auth::{Actor, Role};
use crate::config::Config;
use crate::db::schema::{
    contacts, counters, customers, record_tags, sla_policies, ticket_comments, ticket_ratings,
    ticket_reopens, tickets, users,
};
use crate::db::{self, DbConn, Pool};
use crate::sla_policies::{Applied, Clock, SlaPolicyInput, SlaTarget, SlaTargets};
use crate::tickets::comments::TicketCommentRow;
use crate::tickets::{Ticket, TicketChannel, TicketInput, TicketPriority, TicketRow, TicketStatus};

/// The seed makes sure there are at least this many agents.
const AGENTS: usize = 20;
const DAY: i64 = 86_400;
/// Tickets go back this many days.
const SPAN_DAYS: i64 = 730;

const TICKET_TAGS: &[&str] = &[
    "billing",
    "bug",
    "feature-request",
    "onboarding",
    "integration",
    "refund",
    "login",
    "performance",
    "vip",
    "escalated",
];

/// What the ticket phase wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Loaded {
    pub tickets: u64,
    pub comments: u64,
}

/// A customer tickets may come from.
struct Party {
    id: String,
    created_at: NaiveDateTime,
    contact_id: Option<String>,
}

/// What every ticket of the load shares.
struct Context<'a> {
    agents: &'a [String],
    policies: &'a [Applied],
    autoclose: Duration,
    now: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = ticket_ratings, treat_none_as_null = true, treat_none_as_default_value = false)]
struct RatingRow {
    ticket_id: String,
    rating: i32,
    comment: Option<String>,
    rated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = ticket_reopens, treat_none_as_default_value = false)]
struct ReopenRow {
    ticket_id: String,
    reopened_at: NaiveDateTime,
}

/// What one batch writes.
#[derive(Default)]
struct Batch {
    tickets: Vec<TicketRow>,
    comments: Vec<TicketCommentRow>,
    ratings: Vec<RatingRow>,
    reopens: Vec<ReopenRow>,
    tags: Vec<TagRow>,
}

/// Loads `n` tickets in `threads` threads; the caller has loaded the
/// customers (and deferred the indexes).
pub fn load(
    pool: &Pool,
    config: &Config,
    n: u64,
    threads: u64,
    started: std::time::Instant,
) -> anyhow::Result<Loaded> {
    if n == 0 {
        return Ok(Loaded::default());
    }
    let mut pooled = pool.get()?;
    let conn: &mut DbConn = &mut pooled;
    let parties = parties(conn)?;
    if parties.is_empty() {
        anyhow::bail!("there are no customers to file tickets for: seed some with --customers N");
    }
    // The agents made below would keep the service's first start from
    // creating the first admin: the seed creates it now, as that start
    // would (from CRM_ADMIN_EMAIL and CRM_ADMIN_PASSWORD, or printing a
    // generated password once).
    crate::ops::bootstrap(pool, config)?;
    let postgres = db::is_postgres(conn);
    let agents = ensure_agents(conn)?;
    let policies = policies(conn)?;
    let now = db::now();
    // When each ticket was created and by whom, in creation order, numbered
    // in that order.
    let mut rng = rand::rng();
    let mut plan: Vec<(NaiveDateTime, u32)> = (0..n)
        .map(|_| created_by(&mut rng, &parties, now))
        .collect();
    plan.sort_unstable();
    let numbers = allocate_numbers(conn, n)?;
    drop(pooled);
    let context = Context {
        agents: &agents,
        policies: &policies,
        autoclose: Duration::days(config.ticket_autoclose_days),
        now: db::to_utc(now),
    };
    let batch = if postgres { 5000 } else { 1000 };
    let batches: Vec<(usize, usize)> = (0..plan.len())
        .step_by(batch)
        .map(|from| (from, (from + batch).min(plan.len())))
        .collect();
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads as usize)
            .map(|t| {
                let (context, plan, numbers, parties, batches) =
                    (&context, &plan, &numbers, &parties, &batches);
                scope.spawn(move || -> anyhow::Result<Loaded> {
                    let mut conn = pool.get()?;
                    let mut rng = rand::rng();
                    let mut loaded = Loaded::default();
                    for (k, &(from, to)) in batches.iter().enumerate() {
                        if k % threads as usize != t {
                            continue;
                        }
                        let mut out = Batch::default();
                        for i in from..to {
                            let (created, party) = plan[i];
                            one_ticket(
                                &mut rng,
                                context,
                                numbers[i],
                                created,
                                &parties[party as usize],
                                &mut out,
                            );
                        }
                        loaded.tickets += out.tickets.len() as u64;
                        loaded.comments += out.comments.len() as u64;
                        insert(&mut conn, out)?;
                        if to % 100_000 < batch {
                            log::info!(
                                "tickets up to #{} of {n} in {:.1}s",
                                to,
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(loaded)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("seed thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<Loaded>>>()
    })?;
    Ok(results.into_iter().fold(Loaded::default(), |a, b| Loaded {
        tickets: a.tickets + b.tickets,
        comments: a.comments + b.comments,
    }))
}

/// The agents tickets are assigned to: the active agents, made up to
/// [`AGENTS`] with new ones (`agentK@seed.example`; nobody knows their
/// password, an admin resets it to sign in as one).
fn ensure_agents(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let mut ids: Vec<String> = users::table
        .filter(users::role.eq(Role::Agent.as_str()))
        .filter(users::active.eq(true))
        .order((users::created_at, users::id))
        .select(users::id)
        .load(conn)?;
    if ids.len() >= AGENTS {
        return Ok(ids);
    }
    let hash = crate::auth::hash_password(&crate::auth::random_hex(24))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut k = 0;
    while ids.len() < AGENTS {
        k += 1;
        let email = format!("agent{k}@seed.example");
        let taken: bool = diesel::select(diesel::dsl::exists(
            users::table.filter(users::email.eq(&email)),
        ))
        .get_result(conn)?;
        if taken {
            continue;
        }
        let input = crate::users::UserInput {
            email,
            name: format!(
                "{} {}",
                super::FIRST[k % super::FIRST.len()],
                super::LAST[(k * 7 + k / super::LAST.len()) % super::LAST.len()]
            ),
            role: Role::Agent,
            password: String::new(),
            active: true,
        };
        let user = db::write_tx(conn, |tx| {
            crate::users::repo::create(tx, None, input, hash.clone())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        ids.push(user.id);
    }
    Ok(ids)
}

/// The SLA policies in the order the service matches them, with their
/// clocks; a default "Standard" policy in calendar time is created (as the
/// system, with its event) when there is none at all.
fn policies(conn: &mut DbConn) -> anyhow::Result<Vec<Applied>> {
    let any: i64 = sla_policies::table.count().get_result(conn)?;
    if any == 0 {
        let target = |first_response_minutes, resolution_minutes| SlaTarget {
            first_response_minutes,
            resolution_minutes,
        };
        let input = SlaPolicyInput {
            name: "Standard".into(),
            position: 0,
            is_default: true,
            match_channel: None,
            match_tag: None,
            business_hours_id: None,
            targets: SlaTargets {
                urgent: target(60, 240),
                high: target(240, 1_440),
                normal: target(480, 4_320),
                low: target(1_440, 10_080),
            },
        };
        db::write_tx(conn, |tx| {
            crate::sla_policies::repo::create(tx, &Actor::system(), input.normalized()?)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let ids: Vec<String> = sla_policies::table
        .order((
            sla_policies::position.asc(),
            sla_policies::created_at.asc(),
            sla_policies::id.asc(),
        ))
        .select(sla_policies::id)
        .load(conn)?;
    let mut applied = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(a) =
            crate::sla_policies::repo::applied(conn, &id).map_err(|e| anyhow::anyhow!("{e}"))?
        {
            applied.push(a);
        }
    }
    Ok(applied)
}

/// The policy the service gives a ticket of this channel and these tags
/// (as `sla_policies::repo::applied_for`): the first match by position,
/// else the default.
fn policy_for<'a>(
    policies: &'a [Applied],
    channel: Option<TicketChannel>,
    tags: &[String],
) -> Option<&'a Applied> {
    policies
        .iter()
        .find(|a| a.policy.matches(channel, tags))
        .or_else(|| policies.iter().find(|a| a.policy.is_default))
}

/// Every customer with its primary contact, if any.
fn parties(conn: &mut DbConn) -> anyhow::Result<Vec<Party>> {
    let rows: Vec<(String, NaiveDateTime, Option<String>)> = customers::table
        .left_join(
            contacts::table.on(contacts::customer_id
                .eq(customers::id)
                .and(contacts::is_primary.eq(true))),
        )
        .select((
            customers::id,
            customers::created_at,
            contacts::id.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at, contact_id)| Party {
            id,
            created_at,
            contact_id,
        })
        .collect())
}

/// When a ticket was created, and the customer (created before) who filed
/// it: more recent is likelier (the volume tripled over the span), nights
/// and weekends are quieter.
fn created_by(rng: &mut impl Rng, parties: &[Party], now: NaiveDateTime) -> (NaiveDateTime, u32) {
    let span = SPAN_DAYS * DAY;
    let at = loop {
        let age = rng.random_range(0..span);
        let t = now - Duration::seconds(age);
        let growth = (3.0 - 2.0 * age as f64 / span as f64) / 3.0;
        let weekday = if t.weekday().number_from_monday() >= 6 {
            0.35
        } else {
            1.0
        };
        let hour = if (7..19).contains(&t.hour()) {
            1.0
        } else {
            0.25
        };
        if rng.random::<f64>() < growth * weekday * hour {
            break t;
        }
    };
    for _ in 0..8 {
        let p = rng.random_range(0..parties.len());
        if parties[p].created_at <= at {
            return (at, p as u32);
        }
    }
    // A young customer: a ticket at some time since it exists.
    let p = rng.random_range(0..parties.len());
    let since = (now - parties[p].created_at).num_seconds().max(1);
    let at = parties[p].created_at + Duration::seconds(rng.random_range(0..since));
    (at.min(now), p as u32)
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

/// `n` new ticket numbers, ascending, from the service's allocator: never
/// handed out before, never handed out again.
fn allocate_numbers(conn: &mut DbConn, n: u64) -> anyhow::Result<Vec<i64>> {
    let mut numbers = match conn {
        DbConn::Postgresql(c) => diesel::sql_query(
            "SELECT nextval('ticket_numbers') AS value FROM generate_series(1, $1)",
        )
        .bind::<diesel::sql_types::BigInt, _>(n as i64)
        .load::<Number>(c)?
        .into_iter()
        .map(|r| r.value)
        .collect::<Vec<i64>>(),
        DbConn::Sqlite(c) => {
            let last: i64 = diesel::update(counters::table.find("ticket_numbers"))
                .set(counters::value.eq(counters::value + n as i64))
                .returning(counters::value)
                .get_result(c)?;
            (last - n as i64 + 1..=last).collect()
        }
    };
    numbers.sort_unstable();
    Ok(numbers)
}

/// A UUID v7 of the time a record was made, so its id sorts as the
/// service's would.
pub(super) fn id_at(at: DateTime<Utc>) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        at.timestamp().max(0) as u64,
        at.timestamp_subsec_nanos(),
    );
    uuid::Uuid::new_v7(ts).to_string()
}

/// Steps of a ticket's life, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// An internal note by an agent, when there is room for it.
    Note,
    /// An internal note on a ticket not answered yet (always written).
    Triage,
    /// A public comment from the customer's side on a ticket not yet
    /// answered (it changes nothing).
    Nudge,
    /// The first public reply by an agent.
    Respond,
    /// An agent asks the customer (public) and sets the ticket pending.
    Pending,
    /// The customer answers: a pending ticket opens again.
    Reply,
    Solve,
    /// The customer answers a solved ticket: it opens again.
    Reopen,
    Rate,
    CloseManual,
    CloseAuto,
}

/// Targets for the made-up times when no policy applies.
fn fallback_targets(priority: TicketPriority) -> (i64, i64) {
    match priority {
        TicketPriority::Urgent => (60, 240),
        TicketPriority::High => (240, 1_440),
        TicketPriority::Normal => (480, 4_320),
        TicketPriority::Low => (1_440, 10_080),
    }
}

fn seconds(rng: &mut impl Rng, from: i64, to: i64) -> Duration {
    Duration::seconds(rng.random_range(from..to.max(from + 1)))
}

/// One ticket with its comments, rating and reopenings.
fn one_ticket(
    rng: &mut impl Rng,
    ctx: &Context,
    number: i64,
    created: NaiveDateTime,
    party: &Party,
    out: &mut Batch,
) {
    let v = vocabulary();
    let topic = v.topic(rng);
    let priority = match rng.random_range(0..100) {
        0..5 => TicketPriority::Urgent,
        5..20 => TicketPriority::High,
        20..80 => TicketPriority::Normal,
        _ => TicketPriority::Low,
    };
    let channel = match rng.random_range(0..100) {
        0..45 => TicketChannel::Email,
        45..70 => TicketChannel::Web,
        70..90 => TicketChannel::Chat,
        _ => TicketChannel::Phone,
    };
    let tags = if rng.random_bool(0.3) {
        let count = rng.random_range(1..=2);
        crate::validation::normalize_tags(
            (0..count)
                .map(|_| TICKET_TAGS.choose(rng).unwrap_or(&"bug").to_string())
                .collect(),
        )
    } else {
        Vec::new()
    };
    // An agent takes a phone call down as an open ticket.
    let status = if channel == TicketChannel::Phone && rng.random_bool(0.5) {
        TicketStatus::Open
    } else {
        TicketStatus::New
    };
    let input = TicketInput {
        customer_id: party.id.clone(),
        contact_id: party.contact_id.clone().filter(|_| rng.random_bool(0.6)),
        subject: v.ticket_subject(rng, topic),
        description: Some(v.ticket_description(rng, topic)),
        status,
        priority,
        channel: Some(channel),
        assignee_id: ctx.agents.choose(rng).cloned(),
        tags,
        custom_fields: Map::new(),
        external_id: Some(format!("SEED-T-{number}")),
        follow_up_of_id: None,
    };
    let c = db::to_utc(created);
    let mut life = Life {
        ticket: Ticket::new(id_at(c), number, input, created),
        applied: None,
        topic,
        out: &mut *out,
        optional_comments: 0,
    };
    let applied = policy_for(ctx.policies, Some(channel), &life.ticket.tags);
    life.applied = applied;
    life.ticket.settle(TicketStatus::New, c, applied, true);

    // The times of the steps, on the policy's clock where a target counts.
    let calendar = Clock::Calendar;
    let clock = applied.map(|a| &a.clock).unwrap_or(&calendar);
    let (first_response, resolution) = match applied {
        Some(a) => {
            let t = a.policy.targets.of(priority);
            (t.first_response_minutes, t.resolution_minutes)
        }
        None => fallback_targets(priority),
    };
    let after = |start: DateTime<Utc>, minutes: f64| {
        let minutes = (minutes as i64).max(1);
        clock
            .add(start, minutes)
            .unwrap_or(start + Duration::minutes(minutes))
    };
    let mut steps: Vec<(DateTime<Utc>, Step)> = Vec::with_capacity(10);
    // Minutes of work to solve it on the policy's clock, pauses not
    // counted: mostly within the target, some late, a few stuck long past.
    let mut work = resolution as f64
        * match rng.random_range(0..1000) {
            0..940 => rng.random_range(0.05..1.0),
            940..990 => rng.random_range(1.05..3.0),
            _ => rng.random_range(3.0..15.0),
        };
    let responds = rng.random_bool(0.95);
    if !responds {
        // Spam, duplicates, "never mind": solved without a reply, quickly.
        work = first_response as f64 * rng.random_range(0.05..1.1);
    }
    let mut last = c;
    // Minutes of work done by `last`.
    let mut spent = 0.0;
    if responds {
        let share = if rng.random_bool(0.96) {
            rng.random_range(0.02..1.0)
        } else {
            rng.random_range(1.05..4.0)
        };
        spent = first_response as f64 * share;
        last = after(c, spent);
        steps.push((last, Step::Respond));
    }
    let mut paused = 0;
    let mut solved = None;
    if responds && rng.random_bool(0.35) {
        // An agent asks the customer something while working on it.
        spent += (work - spent).max(10.0) * rng.random_range(0.1..0.7);
        let asked = after(c, spent).max(last + Duration::minutes(2));
        steps.push((asked, Step::Pending));
        if rng.random_bool(0.85) {
            let answered = asked + seconds(rng, 1800, 3 * DAY);
            steps.push((answered, Step::Reply));
            paused = clock.minutes_between(asked, answered);
            last = answered;
        } else {
            // No answer: solved after a few days.
            let at = asked + seconds(rng, 3 * DAY, 10 * DAY);
            steps.push((at, Step::Solve));
            solved = Some(at);
        }
    }
    let mut solved = match solved {
        Some(at) => at,
        None => {
            let at =
                after(c, work.max(spent + 10.0) + paused as f64).max(last + Duration::minutes(10));
            steps.push((at, Step::Solve));
            at
        }
    };
    let autoclose = ctx.autoclose.num_seconds();
    if rng.random_bool(0.06) {
        let reopened = solved + seconds(rng, 1800, (autoclose * 3 / 4).max(3600));
        steps.push((reopened, Step::Reopen));
        solved = reopened + seconds(rng, 1800, 2 * DAY);
        steps.push((solved, Step::Solve));
    }
    if rng.random_bool(0.15) {
        steps.push((solved + seconds(rng, 600, autoclose), Step::CloseManual));
    } else {
        // The sweep runs every minute or so while the service runs.
        let at = solved + ctx.autoclose + seconds(rng, 0, 3600);
        steps.push((at, Step::CloseAuto));
    }
    if rng.random_bool(0.3) {
        let days = crate::tickets::repo::RATING_DAYS;
        steps.push((solved + seconds(rng, 600, days * DAY), Step::Rate));
    }
    let now = ctx.now;
    let until = solved.min(now);
    let span = (until - c).num_seconds().max(1);
    if rng.random_bool(0.25) {
        steps.push((c + seconds(rng, 0, span), Step::Note));
    }
    // Every ticket has a comment: one not answered yet has the customer's
    // nudge (or a triage note).
    if !steps.iter().any(|&(at, s)| s == Step::Respond && at <= now) {
        let step = if rng.random_bool(0.5) {
            Step::Nudge
        } else {
            Step::Triage
        };
        steps.push((c + seconds(rng, 0, span), step));
    }
    steps.sort_by_key(|&(at, _)| at);
    let steps: Vec<(DateTime<Utc>, Step)> =
        steps.into_iter().filter(|&(at, _)| at <= now).collect();
    // At most four comments: the ones that change the ticket always, then
    // notes, questions and solutions while there is room.
    let mandatory = steps
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                Step::Respond | Step::Reply | Step::Reopen | Step::Nudge | Step::Triage
            )
        })
        .count();
    life.optional_comments = 4usize.saturating_sub(mandatory);
    for (at, step) in steps {
        life.step(rng, ctx, at, step);
    }
    let mut ticket = life.ticket;
    // Most tickets nobody answered yet wait in the unassigned queue.
    if ticket.status == TicketStatus::New
        && ticket.first_responded_at.is_none()
        && rng.random_bool(0.6)
    {
        ticket.assignee_id = None;
    }
    for tag in &ticket.tags {
        out.tags.push(TagRow {
            resource: "tickets",
            tag: tag.clone(),
            record_id: ticket.id.clone(),
        });
    }
    out.tickets.push(ticket.row());
}

/// A ticket being lived through.
struct Life<'a, 'b> {
    ticket: Ticket,
    applied: Option<&'a Applied>,
    topic: Topic,
    out: &'b mut Batch,
    /// Room left for comments that change nothing.
    optional_comments: usize,
}

impl Life<'_, '_> {
    fn comment(&mut self, at: DateTime<Utc>, public: bool, author: (&str, String), body: String) {
        let at_naive = db::from_utc(at);
        self.out.comments.push(TicketCommentRow {
            id: id_at(at),
            ticket_id: self.ticket.id.clone(),
            body,
            public,
            author_type: author.0.to_string(),
            author_id: author.1,
            edited_at: None,
            version: 1,
            created_at: at_naive,
            updated_at: at_naive,
        });
    }

    fn optional(&mut self, rng: &mut impl Rng, p: f64) -> bool {
        if self.optional_comments > 0 && rng.random_bool(p) {
            self.optional_comments -= 1;
            true
        } else {
            false
        }
    }

    fn agent(&self, rng: &mut impl Rng, ctx: &Context) -> (&'static str, String) {
        let id = self
            .ticket
            .assignee_id
            .clone()
            .or_else(|| ctx.agents.choose(rng).cloned())
            .unwrap_or_default();
        ("user", id)
    }

    fn customer_side(&self) -> (&'static str, String) {
        match &self.ticket.contact_id {
            Some(id) => ("contact", id.clone()),
            None => ("customer", self.ticket.customer_id.clone()),
        }
    }

    /// A change of status as a PATCH makes it (`tickets::repo::update`
    /// then `save`): the policy is the ticket's own, nothing recomputed
    /// unless a pause ends.
    fn set_status(&mut self, status: TicketStatus, at: DateTime<Utc>, applied: Option<&Applied>) {
        let mut input = self.ticket.input();
        input.status = status;
        let mut next = self.ticket.with(input, db::from_utc(at));
        next.settle(self.ticket.status, at, applied, false);
        self.ticket = next;
    }

    /// What a public comment does to the ticket (`tickets::comments::create`).
    fn after_public_comment(&mut self, at: DateTime<Utc>, by_user: bool) {
        let t = &self.ticket;
        let mut next = t.with(t.input(), db::from_utc(at));
        if by_user {
            if next.first_responded_at.is_none() {
                next.first_responded_at = Some(at);
            }
            if next.status == TicketStatus::New {
                next.status = TicketStatus::Open;
            }
        } else if matches!(next.status, TicketStatus::Pending | TicketStatus::Solved) {
            next.status = TicketStatus::Open;
        }
        if next.first_responded_at != t.first_responded_at || next.status != t.status {
            let before = t.status;
            next.settle(before, at, self.applied, false);
            if before == TicketStatus::Solved && next.status == TicketStatus::Open {
                self.out.reopens.push(ReopenRow {
                    ticket_id: next.id.clone(),
                    reopened_at: db::from_utc(at),
                });
            }
            self.ticket = next;
        }
    }

    fn step(&mut self, rng: &mut impl Rng, ctx: &Context, at: DateTime<Utc>, step: Step) {
        let v = vocabulary();
        let topic = self.topic;
        match step {
            Step::Note | Step::Triage => {
                if step == Step::Triage || self.optional(rng, 1.0) {
                    let author = self.agent(rng, ctx);
                    self.comment(at, false, author, v.internal_note(rng, topic));
                }
            }
            Step::Nudge => {
                let author = self.customer_side();
                self.comment(at, true, author, v.customer_reply(rng, topic));
                self.after_public_comment(at, false);
            }
            Step::Respond => {
                let author = self.agent(rng, ctx);
                self.comment(at, true, author, v.agent_reply(rng, topic));
                self.after_public_comment(at, true);
            }
            Step::Pending => {
                if self.optional(rng, 0.7) {
                    let author = self.agent(rng, ctx);
                    self.comment(at, true, author, v.agent_reply(rng, topic));
                    self.after_public_comment(at, true);
                }
                self.set_status(TicketStatus::Pending, at, self.applied);
            }
            Step::Reply | Step::Reopen => {
                let author = self.customer_side();
                self.comment(at, true, author, v.customer_reply(rng, topic));
                self.after_public_comment(at, false);
            }
            Step::Solve => {
                if self.ticket.first_responded_at.is_some() && self.optional(rng, 0.5) {
                    let author = self.agent(rng, ctx);
                    self.comment(at, true, author, v.agent_reply(rng, topic));
                    self.after_public_comment(at, true);
                }
                self.set_status(TicketStatus::Solved, at, self.applied);
            }
            // An agent or the sweep (`tickets::repo::close_solved`): both
            // settle on the ticket's policy.
            Step::CloseManual | Step::CloseAuto => {
                self.set_status(TicketStatus::Closed, at, self.applied)
            }
            Step::Rate => {
                // Mostly happy; less so when a target was missed.
                let weights: [u32; 5] = if self.ticket.sla_missed() {
                    [15, 15, 20, 25, 25]
                } else {
                    [4, 4, 9, 25, 58]
                };
                let roll = rng.random_range(0..100);
                let mut acc = 0;
                let mut rating = 5;
                for (k, w) in weights.iter().enumerate() {
                    acc += w;
                    if roll < acc {
                        rating = k as i32 + 1;
                        break;
                    }
                }
                let comment = rng.random_bool(0.35).then(|| v.rating_comment(rng, rating));
                self.out.ratings.push(RatingRow {
                    ticket_id: self.ticket.id.clone(),
                    rating,
                    comment,
                    rated_at: db::from_utc(at),
                });
                let t = &self.ticket;
                self.ticket = t.with(t.input(), db::from_utc(at));
            }
        }
    }
}

/// One batch in one transaction: COPY on PostgreSQL, multi-row INSERTs
/// (within SQLite's bound-parameter limit) on SQLite.
fn insert(conn: &mut DbConn, out: Batch) -> anyhow::Result<()> {
    conn.transaction(|conn| {
        match conn {
            DbConn::Postgresql(c) => {
                diesel::copy_from(tickets::table)
                    .from_insertable(&out.tickets)
                    .execute(c)?;
                diesel::copy_from(ticket_comments::table)
                    .from_insertable(&out.comments)
                    .execute(c)?;
                diesel::copy_from(ticket_ratings::table)
                    .from_insertable(&out.ratings)
                    .execute(c)?;
                diesel::copy_from(ticket_reopens::table)
                    .from_insertable(&out.reopens)
                    .execute(c)?;
                diesel::copy_from(record_tags::table)
                    .from_insertable(&out.tags)
                    .execute(c)?;
            }
            DbConn::Sqlite(c) => {
                for part in out.tickets.chunks(500) {
                    diesel::insert_into(tickets::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in out.comments.chunks(2000) {
                    diesel::insert_into(ticket_comments::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in out.ratings.chunks(4000) {
                    diesel::insert_into(ticket_ratings::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in out.reopens.chunks(8000) {
                    diesel::insert_into(ticket_reopens::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in out.tags.chunks(4000) {
                    diesel::insert_into(record_tags::table)
                        .values(part)
                        .execute(c)?;
                }
            }
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}
