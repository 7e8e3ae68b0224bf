//! `fieldcase-server`: serve, and the operator's admin commands.

use clap::{Parser, Subcommand};
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{Role, Storage};
use fieldcase_server::{AppState, Listen, ServerError, admin};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(name = "fieldcase-server", version, about = "fieldcase sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve {
        /// Data folder (SQLite file and blobs), created on first start.
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// PostgreSQL URL instead of the embedded SQLite database.
        #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// PEM certificate chain for TLS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Allow plain HTTP on a non-loopback address (only behind a TLS proxy).
        #[arg(long)]
        allow_insecure_http: bool,
    },
    /// Operator commands.
    Admin {
        /// Data folder.
        #[arg(long)]
        data: PathBuf,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a unit.
    CreateUnit {
        /// Path, e.g. luan/jinan/squad-1.
        #[arg(long)]
        path: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Create a user.
    CreateUser {
        /// Id (officer or volunteer number).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// officer, volunteer, reviewer, supervisor or operator.
        #[arg(long)]
        role: String,
        /// Unit path.
        #[arg(long)]
        unit: String,
    },
    /// Create a one-time enrolment code for a user.
    CreateCode {
        /// The user.
        #[arg(long)]
        user: String,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 72)]
        ttl_hours: i64,
        /// Server URL to put into the QR code.
        #[arg(long)]
        server_url: Option<String>,
        /// Write a QR code PNG here.
        #[arg(long)]
        qr: Option<PathBuf>,
    },
    /// List devices.
    ListDevices,
    /// Revoke a device.
    RevokeDevice {
        /// Device id.
        #[arg(long)]
        id: String,
    },
}

fn print<T: serde::Serialize + std::fmt::Debug>(json: bool, v: &T) -> Result<(), ServerError> {
    if json {
        let s = serde_json::to_string_pretty(v).map_err(|e| ServerError::Config(e.to_string()))?;
        println!("{s}");
    } else {
        println!("{v:#?}");
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), ServerError> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            database_url,
            tls_cert,
            tls_key,
            allow_insecure_http,
        } => {
            if database_url.is_some() {
                return Err(ServerError::Config(
                    "this build has no PostgreSQL backend yet; omit --database-url".into(),
                ));
            }
            let state = AppState::open_dir(&data).await?;
            let server = fieldcase_server::start(
                state,
                Listen {
                    addr: listen,
                    tls: tls_cert.zip(tls_key),
                    allow_insecure_http,
                },
            )
            .await?;
            println!("listening on {}", server.addr);
            tokio::signal::ctrl_c().await?;
            server.shutdown(std::time::Duration::from_secs(10)).await
        }
        Command::Admin {
            data,
            json,
            command,
        } => {
            std::fs::create_dir_all(&data)?;
            let s: Arc<dyn Storage> = Arc::new(SqliteStorage::open(data.join("server.db"))?);
            let s = s.as_ref();
            match command {
                AdminCommand::CreateUnit { path, name } => {
                    print(json, &admin::create_unit(s, &path, &name).await?)
                }
                AdminCommand::CreateUser {
                    id,
                    name,
                    role,
                    unit,
                } => {
                    let role = Role::parse(&role)
                        .ok_or_else(|| ServerError::BadRequest(format!("unknown role {role}")))?;
                    print(json, &admin::create_user(s, &id, &name, role, &unit).await?)
                }
                AdminCommand::CreateCode {
                    user,
                    ttl_hours,
                    server_url,
                    qr,
                } => print(
                    json,
                    &admin::create_code(s, &user, ttl_hours, server_url.as_deref(), qr.as_deref())
                        .await?,
                ),
                AdminCommand::ListDevices => print(json, &admin::list_devices(s).await?),
                AdminCommand::RevokeDevice { id } => {
                    print(json, &admin::revoke_device(s, &id).await?)
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
