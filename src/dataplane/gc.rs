//! Garbage collection of old versions: each shard is walked in rounds of
//! [`ROUND`] history entries, each round one replicated command (so every
//! replica removes the same versions), up to a horizon no snapshot reads
//! below (docs/transactions.md, "Storage").

use std::time::{Duration, SystemTime};

use super::{Command, CommandResult, Op, ShardAccess, ShardError, ShardId};
use crate::hlc::Timestamp;

/// History entries read per round.
pub const ROUND: u32 = 1000;

/// How long versions are kept by default after a newer one replaced them.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(300);

/// One shard's last collection, as `grape_gc` shows it.
#[derive(Debug, Clone)]
pub struct GcRun {
    pub shard: ShardId,
    pub finished_at: SystemTime,
    pub horizon: Timestamp,
    pub rounds: u64,
    pub versions_removed: u64,
    pub keys_removed: u64,
    /// Totals since the server started.
    pub total_versions_removed: u64,
    pub total_keys_removed: u64,
}

/// Collect `shard` up to `horizon`; `last` is its previous run, for the
/// totals.
pub async fn collect_shard(
    data: &dyn ShardAccess,
    shard: ShardId,
    horizon: Timestamp,
    last: Option<&GcRun>,
) -> Result<GcRun, ShardError> {
    let mut run = GcRun {
        shard,
        finished_at: SystemTime::now(),
        horizon,
        rounds: 0,
        versions_removed: 0,
        keys_removed: 0,
        total_versions_removed: last.map_or(0, |l| l.total_versions_removed),
        total_keys_removed: last.map_or(0, |l| l.total_keys_removed),
    };
    let mut from = Vec::new();
    loop {
        let cmd = Command::new(vec![Op::Gc {
            horizon,
            from,
            limit: ROUND,
        }]);
        run.rounds += 1;
        match data.propose(shard, data.epoch(), cmd).await? {
            CommandResult::Collected {
                versions,
                keys,
                next,
            } => {
                run.versions_removed += versions;
                run.keys_removed += keys;
                match next {
                    Some(n) => from = n,
                    None => break,
                }
            }
            other => {
                return Err(ShardError::Storage {
                    shard,
                    detail: format!("garbage collection answered {other:?}"),
                });
            }
        }
    }
    run.total_versions_removed += run.versions_removed;
    run.total_keys_removed += run.keys_removed;
    run.finished_at = SystemTime::now();
    Ok(run)
}
