//! `crm seed --customers N`: realistic synthetic customers with contacts,
//! bulk-inserted for benchmarks.
use crate::config::Config;

pub fn run(_config: &Config, _n: u64) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
