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
use crate::keys::SigningKey;
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
    let platform_key = SigningKey::load_or_create(&config.key_dir().join("platform-ed25519.pk8"))?;
    let session_key = SigningKey::load_or_create(&config.key_dir().join("session-ed25519.pk8"))?;
    let sessions = SessionKeys::new(
        &session_key,
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
        platform_key: Arc::new(platform_key),
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
    loop {
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
