//! The `grapedb` command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use grapedb::server::{self, Config};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "grapedb",
    version,
    about = "GrapeDB: a distributed SQL vector database that speaks the PostgreSQL protocol",
    after_help = "Running `grapedb` with no command is `grapedb start` with its defaults.\n\n\
start flags (each also read from the environment):\n  \
--data-dir PATH      GRAPEDB_DATA_DIR  where the node keeps its data [default: ./grape-data]\n  \
--listen HOST:PORT   GRAPEDB_LISTEN    address for PostgreSQL clients; port 0 picks a free one [default: 127.0.0.1:5433]\n  \
--shards N           GRAPEDB_SHARDS    data shards created in a new data directory [default: 4]\n  \
--gc-retention SECS  GRAPEDB_GC_RETENTION  how long replaced row versions are kept for snapshots [default: 300]\n  \
--snapshot-every N   GRAPEDB_SNAPSHOT_EVERY  Raft log entries between snapshots of a shard (the log is compacted behind each) [default: 100000]\n\n\
Logging: GRAPEDB_LOG (e.g. info, debug). Connect with: psql -h 127.0.0.1 -p 5433 -U grape grape"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (single node by default).
    Start(StartArgs),
}

#[derive(clap::Args)]
struct StartArgs {
    /// Directory that holds the node's data (created if missing).
    #[arg(long, env = "GRAPEDB_DATA_DIR", default_value = "./grape-data")]
    data_dir: PathBuf,
    /// Address for PostgreSQL clients; port 0 picks a free port and logs it.
    #[arg(long, env = "GRAPEDB_LISTEN", default_value = "127.0.0.1:5433")]
    listen: String,
    /// Number of data shards (Raft groups) to create when the data directory is new.
    #[arg(long, env = "GRAPEDB_SHARDS", default_value_t = 4)]
    shards: u32,
    /// Seconds a replaced or deleted row version is kept for snapshots
    /// before garbage collection removes it.
    #[arg(long, env = "GRAPEDB_GC_RETENTION", default_value_t = 300)]
    gc_retention: u64,
    /// Raft log entries of a group between two of its snapshots; the log
    /// is compacted behind each snapshot.
    #[arg(long, env = "GRAPEDB_SNAPSHOT_EVERY", default_value_t = 100_000)]
    snapshot_every: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRAPEDB_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,openraft=warn,hnsw_rs=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Start(a)) => a,
        None => match Cli::parse_from(["grapedb", "start"]).command {
            Some(Command::Start(a)) => a,
            None => unreachable!("start was given"),
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Statements that run statements (ALTER TABLE's fill, CREATE
        // TABLE AS) nest deep futures; 2 MiB is tight for them.
        .thread_stack_size(8 << 20)
        .build()?;
    rt.block_on(async move {
        let config = Config {
            data_dir: args.data_dir.clone(),
            listen: args.listen.clone(),
            shards: args.shards,
            gc_retention: std::time::Duration::from_secs(args.gc_retention),
            snapshot_every: args.snapshot_every,
        };
        let handle = server::start(config).await?;
        let addr = handle.addr;
        tracing::info!(
            "GrapeDB {} listening on {addr}, data in {}; connect with: psql -h {} -p {} -U grape grape",
            env!("CARGO_PKG_VERSION"),
            args.data_dir.display(),
            addr.ip(),
            addr.port()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        handle.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}
