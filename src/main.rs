//! The `crm` binary: `serve` (default), `migrate`, `openapi`, `seed --customers N`.

use std::process::ExitCode;

use crm::config::Config;

const USAGE: &str = "usage: crm [serve | migrate | openapi | seed --customers N]";

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
    if !matches!(command, "serve" | "migrate" | "seed") {
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
        "migrate" => crm::db::connect(&config.database_url, 1).map(|_| println!("migrations applied")),
        "seed" => match parse_seed_args(&args[1..]) {
            Some(n) => crm::seed::run(&config, n),
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

fn parse_seed_args(args: &[String]) -> Option<u64> {
    match args {
        [flag, n] if flag == "--customers" => n.parse().ok(),
        _ => None,
    }
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
