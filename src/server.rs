//! Starting and stopping the platform: state, migrations, demo data, the job loop, and
//! the HTTP server with graceful shutdown. Tests call [`start`] with a port-0 listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutBody;
use tower_http::trace::TraceLayer;

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
    let blobs = open_blobs(&config).await?;
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
    let auction_rulebooks = crate::auction::rulebook::AuctionRulebooks::builtin()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for k in &config.witness_keys {
        crate::audit::cosign::parse_witness_vkey(k)
            .map_err(|e| anyhow::anyhow!("witness_keys: {k}: {e}"))?;
    }
    let notifier = crate::expert::notify::from_settings(
        config.notify_webhook.as_deref(),
        config.notify_timeout_secs,
    )?;
    let list_ttl = Duration::from_millis(config.list_cache_ms);
    // Counted in the database too, so every process shares one limit.
    let login_limiter = Arc::new(LoginLimiter::shared(db.clone()));
    // Every process derives the same share-sealing key from the shared platform key.
    let openings = Arc::new(crate::bid::opening::Ceremonies::new(
        platform_keys.active().pkcs8(),
    ));
    let state = AppState {
        db,
        blobs,
        config: Arc::new(config),
        clock,
        platform_key: platform_keys.active().clone(),
        platform_keys: Arc::new(platform_keys),
        sessions: Arc::new(sessions),
        rulebooks: Arc::new(rulebooks),
        auction_rulebooks: Arc::new(auction_rulebooks),
        login_limiter,
        portal_cache: Arc::new(ListCache::new(list_ttl)),
        openings,
        notifier,
    };
    if state.config.demo {
        let inputs = crate::demo::Inputs {
            db: &state.db,
            blobs: &state.blobs,
            clock: Arc::clone(&state.clock),
            rulebooks: &state.rulebooks,
            auction_rulebooks: &state.auction_rulebooks,
            config: &state.config,
            platform_key: &state.platform_key,
            platform_keys: &state.platform_keys,
        };
        if let Some(loaded) = crate::demo::load_if_empty(&inputs).await? {
            // The colluding demo tender is opened here, where the passkey ceremonies the
            // opening asks for exist, so the regulator sees its alerts at once.
            crate::supervision::demo::open_and_scan(
                &state.opening_env(),
                &state,
                state.config.supervision_rules.as_deref(),
                state.clock.now(),
                &loaded,
            )
            .await?;
            println!("{}", loaded.message);
        }
    }
    Ok(state)
}

/// The blob store the configuration names: the data folder's `blobs/`, or an S3 bucket
/// (checked with a test write, so wrong settings stop the start-up here).
pub async fn open_blobs(config: &Config) -> anyhow::Result<BlobStore> {
    match &config.blob_url {
        Some(url) => BlobStore::s3(url, &config.s3_settings(), BLOB_RETRY_TIMEOUT)
            .await
            .context("opening the S3 blob store"),
        None => BlobStore::local(&config.blob_dir()).context("opening the blob store"),
    }
}

/// How long one request to a remote blob store may be retried before the upload is refused.
const BLOB_RETRY_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// Where the separate metrics listener listens, when one is configured.
    pub metrics_addr: Option<SocketAddr>,
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

/// What each listener allows a connection: slow or idle clients cannot pile up.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Time to send a request's complete headers (also the keep-alive idle time).
    pub header_read: Duration,
    /// Longest wait for the next bytes of a request body.
    pub body_idle: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl ConnLimits {
    /// The limits of `config`; zero values are raised to the smallest usable ones.
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read: Duration::from_secs(config.header_read_timeout_secs.max(1)),
            body_idle: Duration::from_secs(config.body_idle_timeout_secs.max(1)),
            max_connections: config.max_connections.max(1),
        }
    }
}

/// Serves on `listener` (and the metrics listener, if any) until `stop` is signalled;
/// also runs the job loop.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let jobs = tokio::spawn(job_loop(state.clone(), stop.clone()));
    let limits = ConnLimits::from_config(&state.config);
    let metrics = metrics.map(|l| {
        tokio::spawn(serve_http(
            l,
            http::ops::metrics_router(state.clone()),
            limits,
            stop.clone(),
        ))
    });
    serve_http(listener, router(state), limits, stop).await;
    if let Some(m) = metrics {
        m.await?;
    }
    jobs.abort();
    Ok(())
}

/// The accept loop. HTTP/1.1 only: TLS and HTTP/2 end at the reverse proxy, and hyper has
/// no header or idle timeout for HTTP/2, so a cleartext HTTP/2 client could hold a
/// connection forever.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    loop {
        // A connection is accepted only with a free slot; beyond the cap, clients wait in
        // the listen backlog until one is released.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let body_idle = limits.body_idle;
        let service = app.clone().map_request(move |req: Request<Incoming>| {
            let mut req = req.map(|body| Body::new(TimeoutBody::new(body_idle, body)));
            // Handlers read the client address from here (what `axum::serve` provided).
            req.extensions_mut().insert(ConnectInfo(remote));
            req
        });
        let conn = graceful
            .watch(http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%remote, error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Resolves once `stop` is signalled (without holding the channel's lock after).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Per-connection accept errors are the client's and harmless; others (too many open
/// files) would spin the loop, so it pauses as `axum::serve` does.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn job_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config.job_poll_seconds.max(1));
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        if last_sweep.elapsed() >= TMP_SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            sweep_upload_tmp(&state.blobs, &state.config).await;
        }
        match crate::tender::jobs::run_due_at(&state.db, state.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "ran due jobs"),
            Err(e) => tracing::error!(error = %e, "job loop"),
        }
        // A rulebook replaced through another process becomes known here within a poll.
        if let Err(e) = state.rulebooks.fresh(&state.db).await {
            tracing::error!(error = %e, "reading stored rulebooks");
        }
        match crate::auction::jobs::run_due(
            &state.db,
            &state.auction_rulebooks,
            &state.platform_key,
            state.clock.now(),
        )
        .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(moves = n, "auction moves"),
            Err(e) => tracing::error!(error = %e, "auction jobs"),
        }
        let reserves = crate::auction::reserve::Opening {
            db: &state.db,
            blobs: &state.blobs,
            ceremonies: &state.openings,
            key: &state.platform_key,
        };
        match crate::auction::reserve::run_due(&reserves, state.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(opened = n, "auction reserves opened"),
            Err(e) => tracing::error!(error = %e, "auction reserves"),
        }
        let rules = state.config.supervision_rules.as_deref();
        match crate::supervision::engine::run(&state.db, state.clock.now(), rules).await {
            Ok(r) if r.alerts > 0 => tracing::info!(alerts = r.alerts, "supervision alerts raised"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "supervision engine"),
        }
        keep_checkpoint(&state).await;
        // An opening whose process stopped mid-way is taken over here.
        match crate::bid::opening::resume_stalled(&state.opening_env()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(openings = n, "resumed stalled openings"),
            Err(e) => tracing::error!(error = %e, "resuming openings"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Signs and keeps a checkpoint when one is due (after N events or on the schedule).
async fn keep_checkpoint(state: &AppState) {
    let now = state.clock.now();
    let cfg = &state.config;
    match crate::audit::kept::due(
        &state.db,
        now,
        cfg.checkpoint_every_events,
        cfg.checkpoint_every_seconds,
    )
    .await
    {
        Ok(false) => {}
        Ok(true) => {
            let signed = crate::audit::kept::sign_head(
                &state.db,
                now,
                &cfg.log_origin(),
                &state.platform_key.pair,
            )
            .await;
            match signed {
                Ok(kept) => tracing::info!(size = kept.size, "checkpoint signed and kept"),
                Err(e) => tracing::error!(error = %e, "signing a checkpoint"),
            }
        }
        Err(e) => tracing::error!(error = %e, "checking whether a checkpoint is due"),
    }
}

/// Builds the state and starts serving on `listener` in the background.
pub async fn start(
    config: Config,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
) -> anyhow::Result<Running> {
    let metrics = match config.metrics_listen {
        Some(at) => Some(
            TcpListener::bind(at)
                .await
                .with_context(|| format!("binding the metrics listener {at}"))?,
        ),
        None => None,
    };
    let state = build_state(config, clock).await?;
    let addr = listener.local_addr()?;
    let metrics_addr = metrics.as_ref().map(TcpListener::local_addr).transpose()?;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve(state.clone(), listener, metrics, rx));
    Ok(Running {
        addr,
        metrics_addr,
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
    if let Some(at) = running.metrics_addr {
        tracing::info!(addr = %at, "metrics at /metrics");
    }
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

/// Request ids are UUIDv7 so they sort by time in logs and audit events.
#[derive(Clone, Copy, Default)]
struct MakeUuid7;

impl MakeRequestId for MakeUuid7 {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        uuid::Uuid::now_v7()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// The full application router: every feature's routes and pages, with the middleware.
pub fn router(state: AppState) -> Router {
    // Install the recorder now: metrics recorded before it exists are dropped.
    http::ops::metrics_handle();
    // Build the WebAuthn relying party now, so a public URL it cannot use is logged at start.
    crate::identity::passkey::init(&state.config);
    let api = Router::new()
        .merge(crate::audit::routes::router())
        .merge(crate::witness::routes::router())
        .merge(crate::ocds::routes::router())
        .merge(crate::identity::routes::router())
        .merge(crate::identity::passkey_routes::router())
        .merge(crate::tender::routes::router())
        .merge(crate::tender::rulebook_routes::router())
        .merge(crate::expert::routes::router())
        .merge(crate::evaluation::routes::router())
        .merge(crate::evaluation::report::routes::router())
        .merge(crate::award::routes::router())
        .merge(crate::supervision::routes::router())
        .merge(crate::complaint::routes::router())
        .merge(crate::auction::routes::router());
    let pages = Router::new()
        .merge(crate::disclosure::router())
        .merge(crate::identity::pages::router())
        .merge(crate::identity::passkey_pages::router())
        .merge(crate::expert::pages::router())
        .merge(crate::evaluation::pages::router())
        .merge(crate::award::pages::router())
        .merge(crate::auction::pages::router())
        .merge(crate::supervision::pages::router())
        .merge(crate::evaluation::clarification::pages::router())
        .merge(crate::evaluation::replacement::pages::router())
        .merge(crate::tender::rulebook_pages::router())
        .merge(crate::tender::pages::router(
            state.config.max_document_bytes,
        ));

    // Every request gets a time limit except the bid routes: a multi-GiB sealed part over a
    // slow link, and an opening that decrypts every bid, may take longer than any fixed one.
    let timed = Router::new()
        .merge(api)
        .merge(pages)
        .merge(http::ops::router())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(300),
        ));

    let app = Router::new()
        .merge(timed)
        .merge(crate::bid::routes::router())
        .merge(crate::bid::pages::router())
        .fallback(http::error::not_found)
        // Only on a route and method that exist: an unknown address or method is the 404 or
        // 405 for everyone, never a 401 that would tell an anonymous caller to log in first.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::ctx::login_before_body,
        ))
        .method_not_allowed_fallback(http::error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), http::csrf::guard))
        .layer(axum::middleware::from_fn(http::error::localise))
        .layer(axum::middleware::from_fn(http::ops::track_metrics))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(http::REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(http::REQUEST_ID))
        .layer(SetRequestIdLayer::new(http::REQUEST_ID, MakeUuid7));
    http::headers::add(app).with_state(state)
}
