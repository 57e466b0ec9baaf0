//! Crash points for tests: `GRAPEDB_FAILPOINT=name` makes the process abort
//! (as kill -9 would stop it) the first time it reaches the point `name`,
//! so a test can restart it and check what a crash there leaves.

use std::sync::OnceLock;

/// Abort the process here if `GRAPEDB_FAILPOINT` names this point.
pub fn hit(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("GRAPEDB_FAILPOINT").ok());
    if armed.as_deref() == Some(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
