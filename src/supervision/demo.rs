//! Demo supervision data: the demo loader (`crate::demo`) seals three bids with prices in
//! arithmetic progression on one past-deadline tender; this opens it with two custodians and
//! runs the engine, so a new user logging in as `regulator` sees real collusion alerts.

use chrono::{DateTime, Utc};

use crate::bid::opening::{self, PasskeySignatures};
use crate::demo::{COLLUDING, DEMO_PASSWORD, Loaded};

/// Opens the demo's colluding tender as the demo agent with the first two demo custodians
/// (the demo passphrase) and runs the alert engine once.
pub async fn open_and_scan<P: PasskeySignatures>(
    env: &opening::Env,
    passkeys: &P,
    rules: Option<&std::path::Path>,
    now: DateTime<Utc>,
    loaded: &Loaded,
) -> anyhow::Result<()> {
    let (code, agent, passphrase) = (COLLUDING, &loaded.agent, DEMO_PASSWORD);
    opening::start(env, now, agent, code)
        .await
        .map_err(|e| anyhow::anyhow!("demo opening of {code}: {e}"))?;
    for c in loaded.custodians.iter().take(2) {
        opening::unlock(env, passkeys, c, code, passphrase.to_string().into())
            .await
            .map_err(|e| anyhow::anyhow!("demo unlock of {code}: {e}"))?;
    }
    super::engine::run(&env.db, now, rules)
        .await
        .map_err(|e| anyhow::anyhow!("demo supervision scan: {e}"))?;
    Ok(())
}
