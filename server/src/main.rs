//! The `kurier` binary: parses the command line, loads the configuration,
//! and runs the chosen command until it ends or a signal arrives.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kurier::app::{AdminSeed, App};
use kurier::config::Config;
use kurier::storage::Store;
use kurier::telemetry;

#[derive(Parser)]
#[command(name = "kurier", version, about = "Self-hosted SMS communication platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything: HTTP API, dispatcher, connectors, callbacks.
    Serve {
        /// TOML configuration file; without one, the embedded default runs
        /// (SQLite kurier.db and the simulated SMSC `sim`).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run the standalone SMPP 3.4 SMSC simulator (for demos, tests and benchmarks).
    SmscSim(kurier::smsc_sim::SimArgs),
    /// Measure the whole system end to end: this binary's `serve` against
    /// `smsc-sim` over loopback SMPP, loaded through the HTTP API.
    Bench(kurier::bench::BenchArgs),
    /// Import contacts from a CSV or XLSX file.
    #[command(subcommand)]
    Import(kurier::transfer::cli::ImportCommand),
    /// Export contacts or messages to a CSV or XLSX file.
    #[command(subcommand)]
    Export(kurier::transfer::cli::ExportCommand),
    /// Create, start, pause, resume, cancel and inspect campaigns.
    #[command(subcommand)]
    Campaign(kurier::campaigns::cli::CampaignCommand),
    /// Save and list message templates.
    #[command(subcommand)]
    Template(kurier::campaigns::cli::TemplateCommand),
    /// List and create users, reset a password, end a lockout.
    #[command(subcommand)]
    User(kurier::identity::cli::UserCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => serve(Config::load(config.as_deref())?).await,
            Command::Migrate { config } => {
                let c = Config::load(config.as_deref())?;
                Store::open(&c.database.url, 1, &c.database.sqlite_synchronous).await?.close().await;
                println!("database is up to date");
                Ok(())
            }
            Command::SmscSim(args) => kurier::smsc_sim::run(args, stop_signal()).await,
            Command::Import(cmd) => kurier::transfer::cli::run_import(cmd).await,
            Command::Export(cmd) => kurier::transfer::cli::run_export(cmd).await,
            Command::Campaign(cmd) => kurier::campaigns::cli::run_campaign(cmd).await,
            Command::Template(cmd) => kurier::campaigns::cli::run_template(cmd).await,
            Command::User(cmd) => kurier::identity::cli::run_user(cmd).await,
            Command::Bench(args) => {
                kurier::install_crypto_provider();
                kurier::bench::run(args).await
            }
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Listening before anything starts: a SIGTERM sent while Kurier starts
    // is a clean stop, not the default death.
    let stop = stop_signal();
    kurier::install_crypto_provider();
    let app = App::start(config, AdminSeed::from_env()).await?;
    if let Some(b) = &app.bootstrap {
        println!("First start: created account '{}' with user '{}'.", b.account, b.username);
        match &b.generated_password {
            Some(p) => println!("  admin password: {p}"),
            None => println!("  admin password: (from KURIER_ADMIN_PASSWORD)"),
        }
        match &b.generated_api_key {
            Some(k) => println!("  API key:        {k}"),
            None => println!("  API key:        (from KURIER_ADMIN_API_KEY)"),
        }
        println!("These are shown only once; keep them safe.");
    }
    println!("Kurier listening on http://{}", app.local_addr());
    let token = app.shutdown_token();
    tokio::spawn(async move {
        stop.await;
        token.cancel();
    });
    app.wait().await.context("Kurier stopped")
}

/// Resolves at the first SIGINT or SIGTERM; listens from the moment it is
/// made (inside the runtime), not from its first poll.
fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
