//! `fleet-sim`: a fleet of simulated phones against a real server (two on PostgreSQL).
//! The last line of stdout is one JSON object (see `fieldcase_tests::fleet::FleetReport`).

use clap::Parser;
use fieldcase_tests::fleet::{FleetConfig, run};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "fleet-sim",
    about = "simulate a fleet of phones syncing with fieldcase-server"
)]
struct Args {
    /// Phones.
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Cases each phone records offline.
    #[arg(long, default_value_t = 10)]
    records_per_device: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Partitions, dropped, cut and duplicated requests, server restarts.
    #[arg(long)]
    chaos: bool,
    /// PostgreSQL URL: the servers share one database.
    #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Keep server data in DIR/server and phone stores in DIR/devices.
    #[arg(long)]
    keep_data: Option<PathBuf>,
    /// Every phone in a unit of its own (throughput benchmark: no shared cases).
    #[arg(long)]
    isolated: bool,
    /// Server instances behind one load balancer [default: 1 on SQLite, 2 on PostgreSQL].
    #[arg(long)]
    servers: Option<usize>,
    /// Kill the last instance during the first upload and leave it down.
    #[arg(long)]
    kill_one: bool,
    /// Keep evidence in S3 (a moto server started for the run; needs FIELDCASE_MOTO_SERVER
    /// or moto_server on PATH: scripts/ensure-moto.sh).
    #[arg(long)]
    s3: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    let cfg = FleetConfig {
        devices: a.devices,
        records_per_device: a.records_per_device,
        seed: a.seed,
        chaos: a.chaos,
        database_url: a.database_url,
        keep_data: a.keep_data,
        isolated: a.isolated,
        servers: a.servers,
        kill_one: a.kill_one,
        s3: a.s3,
    };
    match run(cfg).await {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(line) => {
                println!("{line}");
                if report.records_lost == 0 && report.replicas_converged {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(2)
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
