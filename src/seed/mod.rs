//! `crm seed --customers N [--tickets N] [--articles N]`: realistic
//! synthetic data, bulk-inserted in large multi-row statements (COPY on
//! PostgreSQL), for benchmarks and demos. A bulk load: it bypasses the event
//! log.
//!
//! Customers (60% companies, each with a contact; about half with 1 to 3
//! orders, whose value the customers carry) and, per customer, a lead (a
//! fifth converted into it), an opportunity spread over the default
//! pipeline's stages with the stage history that led there, and three
//! activities: here. Tickets with their comments, ratings and reopenings,
//! measured against the SLA policies as the service would: [`service`].
//! Knowledge-base articles of generated text: [`articles`], from the word
//! lists of [`text`].

mod articles;
mod service;
pub mod text;

use std::sync::Mutex;
use std::time::Instant;

use chrono::Duration;
use diesel::prelude::*;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::json;

use crate::activities::{Activity, ActivityKind, ActivityRow, Direction};
use crate::config::Config;
use crate::contacts::{ContactInput, ContactRow};
use crate::customers::{Address, CustomerInput, CustomerKind, CustomerRow, LifecycleStage, Tier};
use crate::db::schema::{
    activities, contacts, customers, leads, opportunities, opportunity_stages, order_items, orders,
    record_tags, users,
};
use crate::db::{self, DbConn};
use crate::leads::{Lead, LeadRow, LeadSource, LeadStatus};
use crate::opportunities::{Opportunity, OpportunityRow, OpportunityStatus, StageVisitRow};
use crate::orders::{LineItemInput, OrderInput, OrderItemRow, OrderRow, OrderRows, OrderStatus};
use crate::pipelines::{Pipeline, StageKind};

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Radia", "Tim", "Hedy", "Claude", "Sophie", "Yukihiro",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Shannon",
    "Wilson",
    "Matsumoto",
];
const COMPANY: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Aperture",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Massive Dynamic",
];
const SUFFIX: &[&str] = &["GmbH", "Inc", "Ltd", "SA", "BV", "AB", "Oy", "KK"];
const INDUSTRY: &[&str] = &[
    "software",
    "retail",
    "manufacturing",
    "logistics",
    "finance",
    "health",
    "education",
    "energy",
];
const CITY: &[(&str, &str)] = &[
    ("Berlin", "DE"),
    ("Paris", "FR"),
    ("London", "GB"),
    ("New York", "US"),
    ("Tokyo", "JP"),
    ("Madrid", "ES"),
    ("Amsterdam", "NL"),
    ("Stockholm", "SE"),
    ("Toronto", "CA"),
    ("Sydney", "AU"),
];
const TAGS: &[&str] = &[
    "vip",
    "newsletter",
    "partner",
    "trial",
    "enterprise",
    "smb",
    "emea",
    "apac",
];

/// What `crm seed` loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub customers: u64,
    pub tickets: u64,
    pub articles: u64,
}

impl Counts {
    /// The most articles `--customers N` alone makes.
    pub const MAX_DEFAULT_ARTICLES: u64 = 100_000;

    /// `--customers N` alone: as many tickets, and an article per ten
    /// customers (at most [`Self::MAX_DEFAULT_ARTICLES`]).
    pub fn of_customers(customers: u64) -> Counts {
        Counts {
            customers,
            tickets: customers,
            articles: (customers / 10).min(Self::MAX_DEFAULT_ARTICLES),
        }
    }
}

pub fn run(config: &Config, counts: Counts) -> anyhow::Result<()> {
    const THREADS: u64 = 2;
    let n = counts.customers;
    let pool = db::connect(&config.database_url, THREADS as u32)?;
    let mut pooled = pool.get()?;
    let conn: &mut DbConn = &mut pooled;
    let owners: Vec<String> = users::table.select(users::id).load(conn)?;
    // Continue numbering after earlier seeds, so unique values stay unique.
    let offset = customers::table.count().get_result::<i64>(conn)? as u64;
    let postgres = db::is_postgres(conn);
    crate::customers::value::set_base_currency(conn, &config.base_currency)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::pipelines::repo::ensure_default(conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pipeline =
        crate::pipelines::repo::default_pipeline(conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    // A large load into PostgreSQL is faster with the secondary indexes built
    // once afterwards than maintained row by row.
    let deferred = if postgres {
        drop_secondary_indexes(conn, &deferred_tables(counts))?
    } else {
        Vec::new()
    };
    drop(pooled);
    // PostgreSQL loads in parallel; SQLite has one writer anyway.
    let threads = if postgres { THREADS } else { 1 };
    let loaded = (|| -> anyhow::Result<(service::Loaded, u64)> {
        let share = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (pool, owners, pipeline) = (&pool, &owners, &pipeline);
                    let first = offset + t * share;
                    let count = share.min(n.saturating_sub(t * share));
                    scope.spawn(move || -> anyhow::Result<()> {
                        let mut conn = pool.get()?;
                        load(&mut conn, first, count, owners, pipeline, started)
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("seed thread panicked"))?
            })
        })?;
        if n > 0 {
            log::info!("{n} customers in {:.1}s", started.elapsed().as_secs_f64());
        }
        let tickets = service::load(&pool, config, counts.tickets, threads, started)?;
        let articles = articles::load(&pool, counts.articles, threads, started)?;
        Ok((tickets, articles))
    })();
    // Rebuild the indexes even when the load failed.
    rebuild_indexes(&pool, deferred, threads)?;
    let (tickets, articles) = loaded?;
    let mut pooled = pool.get()?;
    let conn: &mut DbConn = &mut pooled;
    link_converted_opportunities(conn)?;
    if postgres {
        for table in CUSTOMER_TABLES
            .iter()
            .chain(TICKET_TABLES)
            .chain(["articles", "users", "sla_policies"].iter())
        {
            diesel::sql_query(format!("ANALYZE {table}")).execute(conn)?;
        }
    }
    println!(
        "seeded {n} customers, {} tickets with {} comments and {articles} articles in {:.1}s",
        tickets.tickets,
        tickets.comments,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Loads of at least this many customers, or tickets, defer index
/// maintenance on their tables.
const DEFER_INDEXES_FROM: u64 = 100_000;
/// Articles defer theirs (the full-text index above all) from this many.
const DEFER_ARTICLE_INDEXES_FROM: u64 = 10_000;

/// The tables the customers' part of the seed writes.
const CUSTOMER_TABLES: &[&str] = &[
    "customers",
    "contacts",
    "record_tags",
    "orders",
    "order_items",
    "leads",
    "opportunities",
    "opportunity_stages",
    "activities",
];
/// The tables the tickets' part writes.
const TICKET_TABLES: &[&str] = &[
    "tickets",
    "ticket_comments",
    "ticket_ratings",
    "ticket_reopens",
    "record_tags",
];

/// The tables whose secondary indexes a load of `counts` defers.
fn deferred_tables(counts: Counts) -> Vec<&'static str> {
    let mut tables = Vec::new();
    if counts.customers >= DEFER_INDEXES_FROM {
        tables.extend(CUSTOMER_TABLES);
    }
    if counts.tickets >= DEFER_INDEXES_FROM {
        tables.extend(TICKET_TABLES);
    }
    if counts.articles >= DEFER_ARTICLE_INDEXES_FROM {
        tables.push("articles");
    }
    tables.sort_unstable();
    tables.dedup();
    tables
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    indexname: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    indexdef: String,
}

/// Drops the indexes of `tables` that back no constraint, returning their
/// definitions (read from the catalog, so they always match the migrations).
fn drop_secondary_indexes(conn: &mut DbConn, tables: &[&str]) -> anyhow::Result<Vec<String>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let DbConn::Postgresql(c) = conn else {
        return Ok(Vec::new());
    };
    let defs: Vec<IndexDef> = diesel::sql_query(
        "SELECT indexname::text AS indexname, indexdef FROM pg_indexes \
         WHERE schemaname = current_schema() \
         AND tablename = ANY($1) \
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(tables)
    .load(c)?;
    for def in &defs {
        diesel::sql_query(format!("DROP INDEX IF EXISTS \"{}\"", def.indexname)).execute(conn)?;
    }
    log::info!("deferred {} indexes until the load ends", defs.len());
    Ok(defs.into_iter().map(|d| d.indexdef).collect())
}

/// Builds the deferred indexes, `threads` at a time, the full-text and
/// trigram (GIN) ones first as they take longest.
fn rebuild_indexes(
    pool: &db::Pool,
    mut definitions: Vec<String>,
    threads: u64,
) -> anyhow::Result<()> {
    if definitions.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let count = definitions.len();
    // Popped from the end: GIN last in the vector.
    definitions.sort_by_key(|d| d.contains("USING gin"));
    let queue = Mutex::new(definitions);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let queue = &queue;
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut pooled = pool.get()?;
                    let conn: &mut DbConn = &mut pooled;
                    diesel::sql_query("SET maintenance_work_mem = '1GB'").execute(conn)?;
                    loop {
                        let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                        let Some(definition) = next else {
                            return Ok(());
                        };
                        let at = Instant::now();
                        diesel::sql_query(definition.as_str()).execute(conn)?;
                        log::debug!("{definition}: {:.1}s", at.elapsed().as_secs_f64());
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("index thread panicked"))?
        })
    })?;
    log::info!(
        "rebuilt {count} indexes in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A converted lead names the opportunity made from it, which names the
/// lead: the leads are written first, and linked once every opportunity is.
fn link_converted_opportunities(conn: &mut DbConn) -> anyhow::Result<()> {
    let sql = match conn {
        DbConn::Postgresql(_) => {
            "UPDATE leads l SET converted_opportunity_id = o.id FROM opportunities o \
             WHERE o.source_lead_id = l.id AND l.converted_opportunity_id IS NULL"
        }
        DbConn::Sqlite(_) => {
            "UPDATE leads SET converted_opportunity_id = \
             (SELECT o.id FROM opportunities o WHERE o.source_lead_id = leads.id) \
             WHERE status = 'converted' AND converted_opportunity_id IS NULL"
        }
    };
    diesel::sql_query(sql).execute(conn)?;
    Ok(())
}

/// What one batch writes besides customers, contacts, tags and orders.
#[derive(Default)]
struct SalesRows {
    leads: Vec<LeadRow>,
    opportunities: Vec<OpportunityRow>,
    visits: Vec<StageVisitRow>,
    activities: Vec<ActivityRow>,
}

/// Inserts `count` customers numbered from `first`, in batches.
fn load(
    conn: &mut DbConn,
    first: u64,
    count: u64,
    owners: &[String],
    pipeline: &Pipeline,
    started: Instant,
) -> anyhow::Result<()> {
    let batch = if db::is_postgres(conn) { 5000 } else { 1000 };
    let mut rng = rand::rng();
    let mut done = 0u64;
    while done < count {
        let size = batch.min(count - done);
        let mut customer_rows = Vec::with_capacity(size as usize);
        let mut contact_rows = Vec::new();
        let mut tag_rows = Vec::new();
        let mut orders = Vec::new();
        let mut sales = SalesRows::default();
        for i in 0..size {
            let seq = first + done + i;
            let (customer, contact) = synthetic(&mut rng, seq, owners);
            let created = db::now() - Duration::seconds(rng.random_range(0..3 * 365 * 86_400));
            let updated = created + Duration::seconds(rng.random_range(0..86_400));
            let id = db::new_id();
            for tag in &customer.tags {
                tag_rows.push(TagRow {
                    resource: "customers",
                    tag: tag.clone(),
                    record_id: id.clone(),
                });
            }
            if let Some(mut contact) = contact {
                contact.customer_id = id.clone();
                contact_rows.push(ContactRow::from_input(
                    db::new_id(),
                    &contact,
                    1,
                    created,
                    created,
                ));
            }
            for (k, order) in synthetic_orders(&mut rng, seq, &id, created)
                .into_iter()
                .enumerate()
            {
                let id = db::new_id();
                let mut order = order;
                order.external_id = Some(format!("SEED-O-{seq}-{k}"));
                orders.push(
                    OrderRows::from_input(id, &order, 1, created, created)
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                );
            }
            let last_activity =
                synthetic_sales(&mut rng, seq, &id, created, owners, pipeline, &mut sales);
            let row = CustomerRow::from_input(id, &customer, Some(created), 1, created, updated);
            customer_rows.push((row, last_activity));
        }
        let buyers: Vec<String> = orders.iter().map(|o| o.order.customer_id.clone()).collect();
        insert(conn, customer_rows, contact_rows, tag_rows, orders, sales)?;
        let mut buyers: Vec<&str> = buyers.iter().map(String::as_str).collect();
        buyers.dedup();
        crate::customers::value::recompute_all(conn, &buyers)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        done += size;
        if done % 100_000 < size {
            log::info!(
                "{done} customers from #{first} in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

#[derive(Insertable)]
#[diesel(table_name = record_tags, treat_none_as_default_value = false)]
struct TagRow {
    resource: &'static str,
    tag: String,
    record_id: String,
}

/// One batch in one transaction: COPY on PostgreSQL, multi-row INSERTs
/// (within SQLite's bound-parameter limit) on SQLite.
fn insert(
    conn: &mut DbConn,
    customer_rows: Vec<(CustomerRow, Option<chrono::NaiveDateTime>)>,
    contact_rows: Vec<ContactRow>,
    tag_rows: Vec<TagRow>,
    orders: Vec<OrderRows>,
    sales: SalesRows,
) -> anyhow::Result<()> {
    let last_activity: Vec<(String, chrono::NaiveDateTime)> = customer_rows
        .iter()
        .filter_map(|(row, last)| last.map(|t| (row.id.clone(), t)))
        .collect();
    let customer_rows: Vec<CustomerRow> = customer_rows.into_iter().map(|(row, _)| row).collect();
    let (order_rows, item_rows): (Vec<OrderRow>, Vec<Vec<OrderItemRow>>) =
        orders.into_iter().map(|o| (o.order, o.items)).unzip();
    let item_rows: Vec<OrderItemRow> = item_rows.into_iter().flatten().collect();
    conn.transaction(|conn| {
        match conn {
            DbConn::Postgresql(c) => {
                diesel::copy_from(customers::table)
                    .from_insertable(&customer_rows)
                    .execute(c)?;
                diesel::copy_from(contacts::table)
                    .from_insertable(&contact_rows)
                    .execute(c)?;
                diesel::copy_from(record_tags::table)
                    .from_insertable(&tag_rows)
                    .execute(c)?;
                diesel::copy_from(orders::table)
                    .from_insertable(&order_rows)
                    .execute(c)?;
                diesel::copy_from(order_items::table)
                    .from_insertable(&item_rows)
                    .execute(c)?;
                diesel::copy_from(leads::table)
                    .from_insertable(&sales.leads)
                    .execute(c)?;
                diesel::copy_from(opportunities::table)
                    .from_insertable(&sales.opportunities)
                    .execute(c)?;
                diesel::copy_from(opportunity_stages::table)
                    .from_insertable(&sales.visits)
                    .execute(c)?;
                diesel::copy_from(activities::table)
                    .from_insertable(&sales.activities)
                    .execute(c)?;
            }
            DbConn::Sqlite(c) => {
                diesel::insert_into(customers::table)
                    .values(&customer_rows)
                    .execute(c)?;
                for part in contact_rows.chunks(1000) {
                    diesel::insert_into(contacts::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in tag_rows.chunks(4000) {
                    diesel::insert_into(record_tags::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in order_rows.chunks(1000) {
                    diesel::insert_into(orders::table).values(part).execute(c)?;
                }
                for part in item_rows.chunks(2000) {
                    diesel::insert_into(order_items::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in sales.leads.chunks(500) {
                    diesel::insert_into(leads::table).values(part).execute(c)?;
                }
                for part in sales.opportunities.chunks(500) {
                    diesel::insert_into(opportunities::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in sales.visits.chunks(1000) {
                    diesel::insert_into(opportunity_stages::table)
                        .values(part)
                        .execute(c)?;
                }
                for part in sales.activities.chunks(500) {
                    diesel::insert_into(activities::table)
                        .values(part)
                        .execute(c)?;
                }
            }
        }
        // Derived: each customer's latest activity (its row carries no such
        // column). One `UPDATE … FROM unnest(…)` per batch on PostgreSQL, as
        // customers' values are stored; row by row in-process on SQLite.
        match conn {
            DbConn::Postgresql(c) => {
                use diesel::sql_types::{Array, Text, Timestamp};
                let (ids, times): (Vec<String>, Vec<chrono::NaiveDateTime>) =
                    last_activity.into_iter().unzip();
                diesel::sql_query(
                    "UPDATE customers AS c SET last_activity_at = v.at \
                     FROM unnest($1, $2) AS v(id, at) WHERE c.id = v.id",
                )
                .bind::<Array<Text>, _>(ids)
                .bind::<Array<Timestamp>, _>(times)
                .execute(c)?;
            }
            DbConn::Sqlite(c) => {
                for (id, at) in &last_activity {
                    diesel::update(customers::table.find(id))
                        .set(customers::last_activity_at.eq(Some(*at)))
                        .execute(c)?;
                }
            }
        }
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}

fn synthetic(
    rng: &mut impl Rng,
    seq: u64,
    owners: &[String],
) -> (CustomerInput, Option<ContactInput>) {
    let pick = |rng: &mut dyn rand::RngCore, list: &'static [&'static str]| -> &'static str {
        list.choose(rng).copied().unwrap_or("x")
    };
    let company = rng.random_bool(0.6);
    let (city, country) = *CITY.choose(rng).unwrap_or(&("Berlin", "DE"));
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let name = if company {
        format!("{} {} {}", pick(rng, COMPANY), seq, pick(rng, SUFFIX))
    } else {
        format!("{first} {last} {seq}")
    };
    let domain = format!("c{seq}.example");
    let stage = [
        LifecycleStage::Prospect,
        LifecycleStage::Active,
        LifecycleStage::Active,
        LifecycleStage::AtRisk,
        LifecycleStage::Churned,
    ][rng.random_range(0..5)];
    let tier = [
        None,
        Some(Tier::A),
        Some(Tier::B),
        Some(Tier::C),
        Some(Tier::C),
    ][rng.random_range(0..5)];
    let tag_count = rng.random_range(0..3);
    let mut tags: Vec<String> = (0..tag_count)
        .map(|_| pick(rng, TAGS).to_string())
        .collect();
    tags.dedup();
    let customer = CustomerInput {
        kind: if company {
            CustomerKind::Company
        } else {
            CustomerKind::Person
        },
        name,
        email: Some(format!("info@{domain}")),
        phone: Some(format!("+1 555 {:07}", seq % 10_000_000)),
        website: company.then(|| format!("https://{domain}")),
        industry: company.then(|| pick(rng, INDUSTRY).to_string()),
        address: Some(Address {
            line1: Some(format!("{} Main Street", rng.random_range(1..999))),
            line2: None,
            city: Some(city.to_string()),
            region: None,
            postal_code: Some(format!("{:05}", rng.random_range(10000..99999))),
            country: Some(country.to_string()),
        }),
        lifecycle_stage: stage,
        tier,
        email_opt_in: rng.random_bool(0.4),
        sms_opt_in: rng.random_bool(0.1),
        referred_by_id: None,
        owner_id: owners.choose(rng).cloned(),
        tags,
        custom_fields: json!({"source": "seed"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        external_id: Some(format!("SEED-{seq}")),
    };
    let contact = company.then(|| ContactInput {
        customer_id: String::new(),
        first_name: first.to_string(),
        last_name: Some(last.to_string()),
        email: Some(format!("{}@{domain}", first.to_lowercase())),
        phone: None,
        title: Some("Purchasing".to_string()),
        is_primary: true,
        external_id: None,
    });
    (customer, contact)
}

/// About half the customers have 1 to 3 orders of 1 to 3 lines, placed after
/// the customer was created; most in EUR, some in USD, a few cancelled.
fn synthetic_orders(
    rng: &mut impl Rng,
    seq: u64,
    customer_id: &str,
    created: chrono::NaiveDateTime,
) -> Vec<OrderInput> {
    if rng.random_bool(0.5) {
        return Vec::new();
    }
    let age = (db::now() - created).num_seconds().max(1);
    (0..rng.random_range(1..=3))
        .map(|_| OrderInput {
            customer_id: customer_id.to_string(),
            external_id: None,
            number: Some(format!("SO-{seq}-{}", rng.random_range(1000..9999))),
            ordered_at: db::to_utc(created + Duration::seconds(rng.random_range(0..age))),
            status: [
                OrderStatus::Paid,
                OrderStatus::Fulfilled,
                OrderStatus::Fulfilled,
                OrderStatus::Pending,
                OrderStatus::Cancelled,
            ][rng.random_range(0..5)],
            currency: if rng.random_bool(0.9) { "EUR" } else { "USD" }.to_string(),
            items: (0..rng.random_range(1..=3))
                .map(|_| LineItemInput {
                    sku: format!("SKU-{}", rng.random_range(1..500)),
                    name: None,
                    quantity: rng.random_range(1..5),
                    unit_price: rng.random_range(100..50_000),
                    discount: 0,
                })
                .collect(),
            shipping: 495,
            tax: 0,
            total: None,
            tags: Vec::new(),
            custom_fields: Default::default(),
        })
        .collect()
}

const LOST_REASONS: &[&str] = &["price", "timing", "competitor", "no budget", "no decision"];
const SUBJECTS: &[&str] = &[
    "Intro call",
    "Demo",
    "Pricing question",
    "Follow-up",
    "Contract review",
    "Quarterly check-in",
    "Renewal",
    "Onboarding",
];

/// A customer's lead, opportunity (with its stage history) and three
/// activities; returns the customer's latest activity.
#[allow(clippy::too_many_arguments)]
fn synthetic_sales(
    rng: &mut impl Rng,
    seq: u64,
    customer_id: &str,
    created: chrono::NaiveDateTime,
    owners: &[String],
    pipeline: &Pipeline,
    out: &mut SalesRows,
) -> Option<chrono::NaiveDateTime> {
    let now = db::now();
    let age = (now - created).num_seconds().max(60);
    let at = |rng: &mut dyn rand::RngCore, from: chrono::NaiveDateTime| {
        let left = (now - from).num_seconds().max(1);
        from + Duration::seconds(rng.random_range(0..left))
    };
    let owner = owners.choose(rng).cloned();

    // The lead: a fifth converted into this customer.
    let lead_created = created - Duration::seconds(rng.random_range(0..30 * 86_400));
    let status = [
        LeadStatus::New,
        LeadStatus::New,
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Unqualified,
        LeadStatus::Converted,
        LeadStatus::Converted,
    ][rng.random_range(0..9)];
    let lead_id = db::new_id();
    let mut lead = Lead::new(
        lead_id.clone(),
        crate::leads::LeadInput {
            name: format!(
                "{} {} {seq}",
                FIRST.choose(rng).unwrap_or(&"Ada"),
                LAST.choose(rng).unwrap_or(&"L")
            ),
            company_name: Some(format!("{} {seq}", COMPANY.choose(rng).unwrap_or(&"Acme"))),
            email: Some(format!("lead{seq}@l{seq}.example")),
            phone: None,
            title: None,
            source: LeadSource::ALL.choose(rng).copied(),
            status,
            score: rng.random_range(0..=100),
            unqualified_reason: (status == LeadStatus::Unqualified).then(|| "no fit".to_string()),
            owner_id: owner.clone(),
            tags: Vec::new(),
            custom_fields: Default::default(),
            external_id: Some(format!("SEED-L-{seq}")),
        },
        lead_created,
    );
    lead.version = 1;
    lead.created_at = db::to_utc(lead_created);
    lead.updated_at = lead.created_at;
    let converted = status == LeadStatus::Converted;
    if converted {
        lead.converted_at = Some(db::to_utc(created));
        lead.converted_customer_id = Some(customer_id.to_string());
    }

    // The opportunity: through the open stages in order up to where it is.
    let open: Vec<&crate::pipelines::Stage> = pipeline
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .collect();
    let won = pipeline.stages.iter().find(|s| s.kind == StageKind::Won);
    let lost = pipeline.stages.iter().find(|s| s.kind == StageKind::Lost);
    let roll = rng.random_range(0..100);
    let (reached, closing) = match roll {
        0..25 => (open.len(), won),
        25..45 => (rng.random_range(1..=open.len()), lost),
        _ => (rng.random_range(1..=open.len()), None),
    };
    let opp_id = db::new_id();
    let opp_created = created + Duration::seconds(rng.random_range(0..age / 2 + 1));
    let mut path: Vec<&crate::pipelines::Stage> = open[..reached.min(open.len())].to_vec();
    path.extend(closing);
    let mut entered = opp_created;
    for (k, stage) in path.iter().enumerate() {
        let left = path
            .get(k + 1)
            .map(|_| entered + Duration::seconds(rng.random_range(3_600..30 * 86_400)))
            .filter(|t| *t < now);
        out.visits.push(StageVisitRow {
            id: db::new_id(),
            opportunity_id: opp_id.clone(),
            pipeline_id: pipeline.id.clone(),
            stage_id: stage.id.clone(),
            stage_name: stage.name.clone(),
            entered_at: entered,
            left_at: left,
            changed_by_type: "system".into(),
            changed_by_id: "seed".into(),
        });
        match left {
            Some(t) => entered = t,
            None => {
                path.truncate(k + 1);
                break;
            }
        }
    }
    let stage = path.last().copied().unwrap_or(open[0]);
    let status = OpportunityStatus::of(stage.kind);
    let currency = if rng.random_bool(0.9) { "EUR" } else { "USD" };
    let close_day = (opp_created + Duration::days(rng.random_range(14..365))).date();
    let opportunity = Opportunity {
        id: opp_id.clone(),
        customer_id: customer_id.to_string(),
        contact_id: None,
        name: format!("Deal {seq}"),
        amount: rng.random_range(10..1_000) * 10_000,
        currency: currency.to_string(),
        pipeline_id: pipeline.id.clone(),
        stage_id: stage.id.clone(),
        probability: stage.probability,
        expected_close_date: Some(close_day),
        status,
        lost_reason: (status == OpportunityStatus::Lost)
            .then(|| LOST_REASONS.choose(rng).unwrap_or(&"price").to_string()),
        closed_at: (status != OpportunityStatus::Open).then(|| db::to_utc(entered)),
        owner_id: owner.clone(),
        source_lead_id: converted.then(|| lead_id.clone()),
        tags: Vec::new(),
        custom_fields: Default::default(),
        external_id: Some(format!("SEED-OP-{seq}")),
        stage_entered_at: db::to_utc(entered),
        last_activity_at: None,
        rotting: false,
        version: 1,
        created_at: db::to_utc(opp_created),
        updated_at: db::to_utc(entered),
    };

    // Three activities: on the customer, one also on the opportunity, one
    // on the lead when it was not converted.
    let mut last_customer = None;
    let mut last_opportunity = None;
    let mut last_lead = None;
    for k in 0..3 {
        let kind = ActivityKind::ALL
            .choose(rng)
            .copied()
            .unwrap_or(ActivityKind::Note);
        let occurred = at(rng, created);
        let on_lead = k == 2 && !converted;
        let activity = Activity {
            id: db::new_id(),
            kind,
            subject: SUBJECTS.choose(rng).unwrap_or(&"Call").to_string(),
            body: None,
            direction: matches!(kind, ActivityKind::Call | ActivityKind::Email)
                .then(|| *Direction::ALL.choose(rng).unwrap_or(&Direction::Outbound)),
            occurred_at: db::to_utc(occurred),
            duration_seconds: matches!(kind, ActivityKind::Call | ActivityKind::Meeting)
                .then(|| rng.random_range(60..3_600)),
            due_at: (kind == ActivityKind::Task)
                .then(|| db::to_utc(occurred + Duration::days(rng.random_range(1..30)))),
            completed_at: (kind == ActivityKind::Task && rng.random_bool(0.6))
                .then(|| db::to_utc(occurred + Duration::hours(rng.random_range(1..48)))),
            overdue: false,
            owner_id: owner.clone(),
            customer_id: (!on_lead).then(|| customer_id.to_string()),
            contact_id: None,
            lead_id: on_lead.then(|| lead_id.clone()),
            opportunity_id: (k == 1).then(|| opp_id.clone()),
            ticket_id: None,
            version: 1,
            created_at: db::to_utc(occurred),
            updated_at: db::to_utc(occurred),
        };
        let latest = |slot: &mut Option<chrono::NaiveDateTime>| {
            *slot = Some(slot.map_or(occurred, |t: chrono::NaiveDateTime| t.max(occurred)));
        };
        if on_lead {
            latest(&mut last_lead);
        } else {
            latest(&mut last_customer);
        }
        if k == 1 {
            latest(&mut last_opportunity);
        }
        out.activities.push(activity.row());
    }
    lead.last_activity_at = last_lead.map(db::to_utc);
    out.leads.push(lead.row());
    let mut opportunity = opportunity;
    opportunity.last_activity_at = last_opportunity.map(db::to_utc);
    out.opportunities.push(opportunity.row(stage.rotting_days));
    last_customer
}
