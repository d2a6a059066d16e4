//! The `crm` binary: `serve` (default), `migrate`, `openapi`, `seed --customers N
//! [--tickets N] [--articles N]`.

use std::process::ExitCode;

use crm::config::Config;

const USAGE: &str = "usage: crm [serve | migrate | openapi | healthcheck | seed [--customers N] [--tickets N] [--articles N]]
  seed: --tickets defaults to the number of customers, --articles to a tenth of it (at most 100000)";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("serve");
    if command == "openapi" {
        return match serde_json::to_string_pretty(&crm::openapi()) {
            Ok(doc) => {
                println!("{doc}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    if !matches!(command, "serve" | "migrate" | "seed" | "healthcheck") {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        "healthcheck" => healthcheck(&config),
        "migrate" => {
            crm::db::connect(&config.database_url, 1).map(|_| println!("migrations applied"))
        }
        "seed" => match parse_seed_args(&args[1..]) {
            Some(counts) => crm::seed::run(&config, counts),
            None => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => serve(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// `--customers N`, `--tickets N`, `--articles N`, each at most once, in any
/// order, at least one of them; tickets and articles default from customers.
fn parse_seed_args(args: &[String]) -> Option<crm::seed::Counts> {
    let (mut customers, mut tickets, mut articles) = (None, None, None);
    let mut rest = args;
    while let [flag, value, tail @ ..] = rest {
        let n: u64 = value.parse().ok()?;
        let slot = match flag.as_str() {
            "--customers" => &mut customers,
            "--tickets" => &mut tickets,
            "--articles" => &mut articles,
            _ => return None,
        };
        if slot.replace(n).is_some() {
            return None;
        }
        rest = tail;
    }
    if !rest.is_empty() || (customers, tickets, articles) == (None, None, None) {
        return None;
    }
    let defaults = crm::seed::Counts::of_customers(customers.unwrap_or(0));
    Some(crm::seed::Counts {
        customers: defaults.customers,
        tickets: tickets.unwrap_or(defaults.tickets),
        articles: articles.unwrap_or(defaults.articles),
    })
}

fn serve(config: &Config) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async {
        let running = crm::start(config)?;
        log::info!("listening on http://{} (docs at /docs)", running.addr);
        // actix-web stops gracefully on SIGTERM and SIGINT.
        running.server.await?;
        Ok(())
    })
}

/// Exits 0 when the running service answers `GET /ready` with 200 (for
/// container health checks, which have no curl).
fn healthcheck(config: &Config) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let mut addr = config.addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /ready HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    if head.ends_with(b" 200") {
        Ok(())
    } else {
        anyhow::bail!("not ready: {}", String::from_utf8_lossy(&head))
    }
}
