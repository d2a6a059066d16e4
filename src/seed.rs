//! `crm seed --customers N`: realistic synthetic customers (60% companies,
//! each with a contact; about half with 1 to 3 orders, whose value the
//! customers carry) bulk-inserted in large multi-row statements, for
//! benchmarks and demos. A bulk load: it bypasses the event log.

use std::time::Instant;

use chrono::Duration;
use diesel::prelude::*;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::json;

use crate::config::Config;
use crate::contacts::{ContactInput, ContactRow};
use crate::customers::{Address, CustomerInput, CustomerKind, CustomerRow, LifecycleStage, Tier};
use crate::db::schema::{contacts, customers, order_items, orders, record_tags, users};
use crate::db::{self, DbConn};
use crate::orders::{LineItemInput, OrderInput, OrderItemRow, OrderRow, OrderRows, OrderStatus};

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

pub fn run(config: &Config, n: u64) -> anyhow::Result<()> {
    const THREADS: u64 = 2;
    let pool = db::connect(&config.database_url, THREADS as u32)?;
    let mut pooled = pool.get()?;
    let conn: &mut DbConn = &mut pooled;
    let owners: Vec<String> = users::table.select(users::id).load(conn)?;
    // Continue numbering after earlier seeds, so unique values stay unique.
    let offset = customers::table.count().get_result::<i64>(conn)? as u64;
    let postgres = db::is_postgres(conn);
    crate::customers::value::set_base_currency(conn, &config.base_currency)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    // A large load into PostgreSQL is faster with the secondary indexes built
    // once afterwards than maintained row by row.
    let deferred = if postgres && n >= DEFER_INDEXES_FROM {
        drop_secondary_indexes(conn)?
    } else {
        Vec::new()
    };
    drop(pooled);
    // PostgreSQL loads in parallel; SQLite has one writer anyway.
    let threads = if postgres { THREADS } else { 1 };
    let share = n.div_ceil(threads);
    let loaded = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (pool, owners) = (&pool, &owners);
                let first = offset + t * share;
                let count = share.min(n.saturating_sub(t * share));
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut conn = pool.get()?;
                    load(&mut conn, first, count, owners, started)
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("seed thread panicked"))?
        })
    });
    let mut pooled = pool.get()?;
    let conn: &mut DbConn = &mut pooled;
    // Rebuild the indexes even when the load failed.
    rebuild_indexes(conn, &deferred)?;
    loaded?;
    if postgres {
        for table in [
            "customers",
            "contacts",
            "record_tags",
            "orders",
            "order_items",
        ] {
            diesel::sql_query(format!("ANALYZE {table}")).execute(conn)?;
        }
    }
    println!(
        "seeded {n} customers in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Loads of at least this many customers defer index maintenance.
const DEFER_INDEXES_FROM: u64 = 100_000;

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    indexname: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    indexdef: String,
}

/// Drops the seeded tables' indexes that back no constraint, returning their
/// definitions (read from the catalog, so they always match the migrations).
fn drop_secondary_indexes(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let defs: Vec<IndexDef> = diesel::sql_query(
        "SELECT indexname::text AS indexname, indexdef FROM pg_indexes \
         WHERE schemaname = current_schema() \
         AND tablename IN ('customers', 'contacts', 'record_tags') \
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .load(conn)?;
    for def in &defs {
        diesel::sql_query(format!("DROP INDEX IF EXISTS \"{}\"", def.indexname)).execute(conn)?;
    }
    log::info!("deferred {} indexes until the load ends", defs.len());
    Ok(defs.into_iter().map(|d| d.indexdef).collect())
}

fn rebuild_indexes(conn: &mut DbConn, definitions: &[String]) -> anyhow::Result<()> {
    if definitions.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    diesel::sql_query("SET maintenance_work_mem = '256MB'").execute(conn)?;
    for definition in definitions {
        diesel::sql_query(definition.as_str()).execute(conn)?;
    }
    log::info!(
        "rebuilt {} indexes in {:.1}s",
        definitions.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Inserts `count` customers numbered from `first`, in batches.
fn load(
    conn: &mut DbConn,
    first: u64,
    count: u64,
    owners: &[String],
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
            customer_rows.push(CustomerRow::from_input(
                id,
                &customer,
                Some(created),
                1,
                created,
                updated,
            ));
        }
        let buyers: Vec<String> = orders.iter().map(|o| o.order.customer_id.clone()).collect();
        insert(conn, customer_rows, contact_rows, tag_rows, orders)?;
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
    customer_rows: Vec<CustomerRow>,
    contact_rows: Vec<ContactRow>,
    tag_rows: Vec<TagRow>,
    orders: Vec<OrderRows>,
) -> anyhow::Result<()> {
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
