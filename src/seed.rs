//! `crm seed --customers N`: realistic synthetic customers (60% companies,
//! each with a contact) bulk-inserted in large multi-row statements, for
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
use crate::db::schema::{contacts, customers, record_tags, users};
use crate::db::{self, DbConn};

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
    let pool = db::connect(&config.database_url, 2)?;
    let mut conn = pool.get()?;
    let owners: Vec<String> = users::table.select(users::id).load(&mut conn)?;
    // Continue numbering after earlier seeds, so unique values stay unique.
    let offset = customers::table.count().get_result::<i64>(&mut conn)? as u64;
    let batch = if db::is_postgres(&conn) { 2000 } else { 1000 };
    let started = Instant::now();
    let mut rng = rand::rng();
    let mut done = 0u64;
    while done < n {
        let size = batch.min(n - done);
        let mut customer_rows = Vec::with_capacity(size as usize);
        let mut contact_rows = Vec::new();
        let mut tag_rows = Vec::new();
        for i in 0..size {
            let seq = offset + done + i;
            let (customer, contact) = synthetic(&mut rng, seq, &owners);
            let created = db::now() - Duration::seconds(rng.random_range(0..3 * 365 * 86_400));
            let updated = created + Duration::seconds(rng.random_range(0..86_400));
            let id = db::new_id();
            for tag in &customer.tags {
                tag_rows.push((
                    record_tags::resource.eq("customers"),
                    record_tags::tag.eq(tag.clone()),
                    record_tags::record_id.eq(id.clone()),
                ));
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
            customer_rows.push(CustomerRow::from_input(
                id,
                &customer,
                Some(created),
                1,
                created,
                updated,
            ));
        }
        insert(
            &mut conn,
            &customer_rows,
            &contact_rows,
            &tag_rows,
            batch as usize,
        )?;
        done += size;
        if done % 100_000 < size || done == n {
            log::info!(
                "seeded {done} customers in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    if db::is_postgres(&conn) {
        diesel::sql_query("ANALYZE customers").execute(&mut conn)?;
        diesel::sql_query("ANALYZE contacts").execute(&mut conn)?;
        diesel::sql_query("ANALYZE record_tags").execute(&mut conn)?;
    }
    println!(
        "seeded {n} customers in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

type TagRow = (
    diesel::dsl::Eq<record_tags::resource, &'static str>,
    diesel::dsl::Eq<record_tags::tag, String>,
    diesel::dsl::Eq<record_tags::record_id, String>,
);

fn insert(
    conn: &mut DbConn,
    customer_rows: &[CustomerRow],
    contact_rows: &[ContactRow],
    tag_rows: &[TagRow],
    chunk: usize,
) -> anyhow::Result<()> {
    conn.transaction(|conn| {
        crate::on_backend!(conn, |c| {
            diesel::insert_into(customers::table)
                .values(customer_rows)
                .execute(c)?;
            for part in contact_rows.chunks(chunk) {
                diesel::insert_into(contacts::table)
                    .values(part)
                    .execute(c)?;
            }
            for part in tag_rows.chunks(chunk * 4) {
                diesel::insert_into(record_tags::table)
                    .values(part)
                    .execute(c)?;
            }
        });
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
