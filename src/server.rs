//! Starting and stopping the platform: state, migrations, demo data, the job loop, and
//! the HTTP server with graceful shutdown. Tests call [`start`] with a port-0 listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::disclosure::cache::ListCache;
use crate::http::{self, AppState};
use crate::identity::ratelimit::LoginLimiter;
use crate::identity::session::SessionKeys;
use crate::keys::{KeyRing, Purpose};
use crate::store::Db;
use crate::store::blob::BlobStore;
use crate::tender::rulebook::Rulebooks;

/// Connects, migrates, loads keys and rulebooks, and (with `demo`) loads demo data.
pub async fn build_state(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let db = Db::connect(&config.database_url())
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let blobs = BlobStore::local(&config.blob_dir()).context("opening the blob store")?;
    sweep_upload_tmp(&blobs, &config).await;
    let platform_keys = load_keys(&config, Purpose::Platform)?;
    let session_keys = load_keys(&config, Purpose::Session)?;
    let sessions = SessionKeys::from_ring(
        &session_keys,
        config.public_url.clone(),
        chrono::Duration::minutes(config.session_minutes),
    );
    let rulebooks = match &config.rulebook_dir {
        Some(dir) => Rulebooks::load_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Rulebooks::builtin().map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let list_ttl = Duration::from_millis(config.list_cache_ms);
    let state = AppState {
        db,
        blobs,
        config: Arc::new(config),
        clock,
        platform_key: platform_keys.active().clone(),
        platform_keys: Arc::new(platform_keys),
        sessions: Arc::new(sessions),
        rulebooks: Arc::new(rulebooks),
        login_limiter: Arc::new(LoginLimiter::default()),
        portal_cache: Arc::new(ListCache::new(list_ttl)),
        openings: Arc::default(),
    };
    if state.config.demo
        && let Some(logins) = crate::demo::load_if_empty(&state).await?
    {
        println!("{logins}");
    }
    Ok(state)
}

/// Loads one purpose's key ring; warns when the signing key lives in the data folder,
/// where every copy of the data carries it (docs/sealed-bidding.md, "Signing keys").
fn load_keys(config: &Config, purpose: Purpose) -> anyhow::Result<KeyRing> {
    let loc = config.key_location(purpose)?;
    let ring = KeyRing::load(&loc)
        .with_context(|| format!("loading the {} signing key", purpose.name()))?;
    let kid = ring.active().kid();
    if loc.source.in_data_dir() {
        tracing::warn!(
            purpose = purpose.name(),
            kid,
            file = %loc.source.describe(),
            "the {} signing key lives in the data directory: anyone with a copy of it can {}; \
             set SUNBID_{}_KEY_FILE (or SUNBID_KEY_DIR) to a secret mount outside it",
            purpose.name(),
            match purpose {
                Purpose::Platform => "forge bid receipts and audit checkpoints",
                Purpose::Session => "mint login tokens",
            },
            purpose.name().to_uppercase(),
        );
    } else {
        tracing::info!(purpose = purpose.name(), kid, source = %loc.source.describe(), retired = ring.retired().len(), "signing key loaded");
    }
    Ok(ring)
}

/// Removes upload temp files left by a crash; logs what it removed (never fails start-up).
async fn sweep_upload_tmp(blobs: &BlobStore, config: &Config) {
    let max_age = Duration::from_secs(config.upload_tmp_max_age_seconds);
    match blobs.sweep_tmp(max_age).await {
        Ok(s) if s.files > 0 => tracing::info!(
            files = s.files,
            bytes = s.bytes,
            "removed stale upload temp files"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "sweeping upload temp files"),
    }
}

/// How often the job loop sweeps upload temp files.
const TMP_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// A running server.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (tests use the database and clock directly).
    pub state: AppState,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops gracefully and waits for in-flight requests.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await??;
        self.state.db.close().await;
        Ok(())
    }
}

/// Serves on `listener` until `stop` is signalled; also runs the job loop.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let jobs = tokio::spawn(job_loop(state.clone(), stop.clone()));
    let app = http::router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await?;
    jobs.abort();
    Ok(())
}

async fn job_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config.job_poll_seconds.max(1));
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        if last_sweep.elapsed() >= TMP_SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            sweep_upload_tmp(&state.blobs, &state.config).await;
        }
        match crate::tender::jobs::run_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "ran due jobs"),
            Err(e) => tracing::error!(error = %e, "job loop"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Builds the state and starts serving on `listener` in the background.
pub async fn start(
    config: Config,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
) -> anyhow::Result<Running> {
    let state = build_state(config, clock).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(state.clone(), listener, rx));
    Ok(Running {
        addr,
        state,
        stop: tx,
        task,
    })
}

/// Runs until Ctrl-C or SIGTERM (the `serve` command).
pub async fn run_until_signal(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let public = config.public_url.clone();
    let running = start(config, clock, listener).await?;
    tracing::info!(addr = %running.addr, public_url = %public, db = running.state.db.dialect(), "Sunbid is listening");
    println!("Sunbid is running: open {public}");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
