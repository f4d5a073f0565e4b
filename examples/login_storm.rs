//! Memory of a login storm: 1,000 password checks arriving at once, as when every bidder
//! logs in during a deadline's last minute. Prints the process's peak and resident memory.
//!
//!     cargo run --release --example login_storm -- pooled    # sunbid's hasher
//!     cargo run --release --example login_storm -- plain     # reference: one allocation per hash
//!
//! Run each mode in its own process: the peak (VmHWM) is per process. Linux only.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "pooled".into());
    let logins: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let phc = sunbid::identity::password::hash("bidder password 2026".into())
        .await
        .map_err(anyhow::Error::msg)?;
    println!(
        "mode {mode}, {logins} logins; before: rss {} KiB",
        status_kib("VmRSS:")
    );
    let started = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(logins);
    for i in 0..logins {
        let phc = phc.clone();
        // Every tenth login uses a wrong password, as real storms have typos.
        let password = if i % 10 == 0 {
            "typo".to_string()
        } else {
            "bidder password 2026".to_string()
        };
        let pooled = mode == "pooled";
        tasks.push(tokio::spawn(async move {
            if pooled {
                sunbid::identity::password::verify(password, phc).await
            } else {
                tokio::task::spawn_blocking(move || {
                    PasswordHash::new(&phc).is_ok_and(|parsed| {
                        Argon2::default()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                })
                .await
                .unwrap_or(false)
            }
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await? {
            accepted += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "accepted {accepted}/{logins} in {:.1} s ({:.0} checks/s); peak rss {} MiB, rss after {} MiB",
        elapsed.as_secs_f64(),
        logins as f64 / elapsed.as_secs_f64(),
        status_kib("VmHWM:") / 1024,
        status_kib("VmRSS:") / 1024,
    );
    Ok(())
}
