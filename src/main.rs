//! The `sunbid` command: run the platform, migrate, manage users, verify the audit log, seal
//! and submit bids, verify bid receipts.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sunbid::audit::verify::{Verdict, verify_server};
use sunbid::bidcli::submit::KeySource;
use sunbid::bidcli::{ClientError, Credentials, SubmitOptions, submit_bid, verify_receipt_file};
use sunbid::clock::{Clock, SystemClock};
use sunbid::config::{Config, Overrides};
use sunbid::identity::Role;
use sunbid::identity::service::{NewUser, create_user};
use sunbid::keys::{KeyRing, Purpose};

#[derive(Parser)]
#[command(
    name = "sunbid",
    version,
    about = "Sunbid public-resource trading platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// TOML config file (default ./sunbid.toml if present, or $SUNBID_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data folder (SQLite database, blobs, keys).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… (default: SQLite in the data folder).
    #[arg(long)]
    database_url: Option<String>,
}

/// Where the signing keys are (docs/sealed-bidding.md, "Signing keys").
#[derive(Args, Clone)]
struct KeyArgs {
    /// Folder of the signing keys and retired public keys (default $CREDENTIALS_DIRECTORY,
    /// else <data dir>/keys).
    #[arg(long)]
    key_dir: Option<PathBuf>,
    /// The platform key (receipts, audit checkpoints) as a PKCS#8 file.
    #[arg(long)]
    platform_key_file: Option<PathBuf>,
    /// The session key (login tokens) as a PKCS#8 file.
    #[arg(long)]
    session_key_file: Option<PathBuf>,
}

impl KeyArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            key_dir: self.key_dir.clone(),
            platform_key_file: self.platform_key_file.clone(),
            session_key_file: self.session_key_file.clone(),
            ..Overrides::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform.
    Serve {
        #[command(flatten)]
        cfg: ConfigArgs,
        #[command(flatten)]
        keys: KeyArgs,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Public URL users open (default http://localhost:8080).
        #[arg(long)]
        public_url: Option<String>,
        /// Serve Prometheus metrics at /metrics on this separate address, e.g.
        /// 127.0.0.1:9464 (default: no metrics; the public address never serves them).
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Export trace spans over OTLP/HTTP to this collector URL, e.g.
        /// http://127.0.0.1:4318/v1/traces (default: no traces; docs/operations.md).
        #[arg(long)]
        otlp_endpoint: Option<String>,
        /// Load demo organisations, users and tenders into an empty database.
        #[arg(long)]
        demo: bool,
        /// Demo only: run the clock this many hours ahead, to try the steps that wait for a
        /// period to pass (the bid deadline, a 3-day publicity). Refused without --demo, so a
        /// real platform can never be backdated or post-dated this way.
        #[arg(long, requires = "demo", allow_negative_numbers = true)]
        demo_clock_offset_hours: Option<i64>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Sealed bids, from the bidder's side.
    Bid {
        #[command(subcommand)]
        command: BidCommand,
    },
    /// Bid receipts.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// The verifiable expert draw.
    Draw {
        #[command(subcommand)]
        command: DrawCommand,
    },
    /// Witness the platform's audit log: verify its newest checkpoint against the last one
    /// accepted (consistency proof), cosign it (C2SP tlog-cosignature) and post the
    /// cosignature back. Refuses (exit code 1) a split view, a rollback, a forged or foreign
    /// checkpoint.
    Witness {
        /// Base URL of the log, e.g. https://bid.example.cn.
        #[arg(long)]
        log: String,
        /// The witness's Ed25519 key (PKCS#8); created on first use.
        #[arg(long)]
        key: PathBuf,
        /// Folder of the witness's state (the last accepted checkpoint, the log's key).
        #[arg(long)]
        state: PathBuf,
        /// The witness's key name (give the platform the printed verifier key).
        #[arg(long, default_value = "sunbid-witness")]
        name: String,
        /// Pin the log's verifier key instead of trusting it on first contact.
        #[arg(long)]
        log_vkey: Option<String>,
    },
    /// Back up the database (an online, consistent snapshot) and every blob into a new
    /// folder, with a manifest of the audit head. Signing keys are not included: keep them
    /// as the secrets they are (deploy/README.md, "Backup and restore").
    Backup {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The folder to create (must not exist, or be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into an empty database and the configured blob store, and check
    /// that the restored audit log ends where the backup's did.
    Restore {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// The folder `sunbid backup` wrote.
        #[arg(long)]
        from: PathBuf,
    },
    /// The platform's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a fresh Ed25519 key (PKCS#8 DER, mode 0600) to a new file, e.g. for a secret.
    Generate {
        /// The file to create (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Retire the active key of one purpose and make a fresh one: the old public key is kept
    /// in the key folder so what it signed still verifies. Restart every server process
    /// afterwards.
    Rotate {
        #[command(flatten)]
        cfg: ConfigArgs,
        #[command(flatten)]
        keys: KeyArgs,
        /// platform (receipts, audit checkpoints) or session (login tokens).
        #[arg(long)]
        purpose: String,
        /// Write the new key here instead of over the active key's file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show the key ids of the active and retired keys, and where they come from.
    List {
        #[command(flatten)]
        cfg: ConfigArgs,
        #[command(flatten)]
        keys: KeyArgs,
    },
}

#[derive(Subcommand)]
enum DrawCommand {
    /// Replay a revealed draw from the server's public record and audit log; prints MATCH or
    /// MISMATCH (exit code 1). See docs/expert-draw.md.
    Verify {
        /// Base URL of the server, e.g. http://localhost:8080.
        #[arg(long)]
        server: String,
        /// The draw id.
        #[arg(long)]
        draw: String,
    },
}

#[derive(Subcommand)]
enum BidCommand {
    /// Check the bid form, seal every part locally to the tender's opening key, upload,
    /// submit, and verify the signed receipt.
    Submit {
        /// Base URL of the server, e.g. http://localhost:8080.
        #[arg(long)]
        server: String,
        /// The tender's code.
        #[arg(long)]
        tender: String,
        /// The bid form (JSON: price_fen, duration_days, quality, project_manager,
        /// declarations).
        #[arg(long)]
        form: PathBuf,
        /// An attachment, sealed as its own part (repeatable).
        #[arg(long = "attach", value_name = "FILE")]
        attach: Vec<PathBuf>,
        /// A Bearer token (or $SUNBID_TOKEN).
        #[arg(long, env = "SUNBID_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Log in as this user instead (takes precedence over a token); the password is
        /// read from standard input.
        #[arg(long)]
        username: Option<String>,
        /// Pin the platform's receipt-signing key instead of fetching the published one.
        #[arg(long)]
        vkey: Option<String>,
        /// Where to write the receipt (default receipt-<tender>.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Check a receipt's signature offline against the platform key.
    Verify {
        /// The receipt file written by `sunbid bid submit`.
        receipt: PathBuf,
        /// Base URL of the server, to fetch its published key (not needed with --vkey).
        #[arg(long)]
        server: Option<String>,
        /// Pin the platform's verifier key (name+keyid+base64).
        #[arg(long)]
        vkey: Option<String>,
        /// Never contact a server: check the signature with --vkey and the receipt's
        /// inclusion proof against the checkpoint it carries.
        #[arg(long, requires = "vkey", conflicts_with = "server")]
        offline: bool,
        /// A witness key (name+keyid+base64, type 0x04) whose cosignature on the proof's
        /// checkpoint to report (repeatable).
        #[arg(long = "witness-vkey")]
        witness_vkeys: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (the password is read from standard input).
    Create {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Name shown in pages.
        #[arg(long)]
        display_name: String,
        /// operator | agent | custodian | bidder | expert | regulator
        #[arg(long)]
        role: String,
        /// Organisation id (required for every role but operator).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Download a server's log (or read an export with --file), recompute the Merkle tree
    /// and check the signed checkpoint.
    Verify {
        /// Base URL of the server, e.g. http://localhost:8080.
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        server: Option<String>,
        /// Verify an export written by `sunbid audit export`, with no server.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Pin the log's verifier key instead of trusting the one the server publishes.
        #[arg(long)]
        vkey: Option<String>,
        /// A regulator's Bearer token (or $SUNBID_TOKEN): withheld entries are checked too.
        #[arg(long, env = "SUNBID_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Verify incrementally: keep the last verified checkpoint in this folder and fetch
        /// only the new entries and a consistency proof; refuse a split view.
        #[arg(long, requires = "server")]
        state: Option<PathBuf>,
        /// With --state: report a split view to the server, signed with this witness key
        /// (PKCS#8; the platform must list it in witness_keys).
        #[arg(long, requires = "state")]
        report_key: Option<PathBuf>,
        /// The key name of --report-key.
        #[arg(long, default_value = "sunbid-witness")]
        report_name: String,
    },
    /// Write a server's log (entries, the latest checkpoint with its witness cosignatures)
    /// to one file that `sunbid audit verify --file` checks offline.
    Export {
        /// Base URL of the server, e.g. http://localhost:8080.
        #[arg(long)]
        server: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// A regulator's Bearer token (or $SUNBID_TOKEN): withheld entries are exported too.
        #[arg(long, env = "SUNBID_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

fn load_config(cfg: &ConfigArgs, extra: Overrides) -> anyhow::Result<Config> {
    let overrides = Overrides {
        data_dir: cfg.data_dir.clone(),
        database_url: cfg.database_url.clone(),
        ..extra
    };
    Config::load(cfg.config.as_deref(), &overrides)
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

fn init_logs(json: bool) {
    init_logs_with(json, None);
}

/// Logs to standard error and, with a tracer, spans to OpenTelemetry as well.
fn init_logs_with(json: bool, tracer: Option<opentelemetry_sdk::trace::Tracer>) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let otel = tracer.map(|t| tracing_opentelemetry::layer().with_tracer(t));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .init();
}

/// The OpenTelemetry exporter when `otlp_endpoint` is set. Built off the async runtime:
/// the exporter's HTTP client is a blocking one with a runtime of its own.
async fn start_traces(config: &Config) -> anyhow::Result<Option<sunbid::ops::traces::Traces>> {
    let Some(endpoint) = config.otlp_endpoint.clone() else {
        return Ok(None);
    };
    let service = config.otlp_service_name.clone();
    let traces = tokio::task::spawn_blocking(move || {
        sunbid::ops::traces::Traces::start(&endpoint, &service)
    })
    .await??;
    Ok(Some(traces))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve {
            cfg,
            keys,
            listen,
            public_url,
            metrics_listen,
            otlp_endpoint,
            demo,
            demo_clock_offset_hours,
        } => {
            let config = load_config(
                &cfg,
                Overrides {
                    listen,
                    public_url,
                    metrics_listen,
                    otlp_endpoint,
                    demo: demo.then_some(true),
                    ..keys.overrides()
                },
            )?;
            let traces = start_traces(&config).await?;
            init_logs_with(config.log_json, traces.as_ref().map(|t| t.tracer()));
            tracing::info!(config = ?config, "starting");
            let clock = match demo_clock_offset_hours {
                Some(hours) => {
                    let offset = chrono::Duration::try_hours(hours)
                        .ok_or_else(|| anyhow::anyhow!("--demo-clock-offset-hours is too large"))?;
                    tracing::warn!(hours, "demo clock runs ahead of the real time");
                    let shifted = sunbid::clock::OffsetClock::default();
                    shifted.advance(offset);
                    Arc::new(shifted) as Arc<dyn Clock>
                }
                None => clock,
            };
            let served = sunbid::server::run_until_signal(config, clock).await;
            if let Some(t) = traces {
                // Flushes the queued spans; blocking, so off the runtime's threads.
                let _ = tokio::task::spawn_blocking(move || t.shutdown()).await;
            }
            served?;
        }
        Command::Migrate { cfg } => {
            let config = load_config(&cfg, Overrides::default())?;
            init_logs(config.log_json);
            let db = sunbid::store::Db::connect(&config.database_url()).await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.dialect());
        }
        Command::User {
            command:
                UserCommand::Create {
                    cfg,
                    username,
                    display_name,
                    role,
                    org,
                },
        } => {
            let config = load_config(&cfg, Overrides::default())?;
            init_logs(config.log_json);
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let db = sunbid::store::Db::connect(&config.database_url()).await?;
            db.migrate().await?;
            let actor = sunbid::audit::Actor {
                role: Some("cli".into()),
                ..Default::default()
            };
            let req = NewUser {
                username,
                display_name,
                role,
                org_id: org,
                password: password.trim_end_matches(['\r', '\n']).to_string(),
            };
            let id = create_user(&db, clock.now(), &actor, req)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created user {id}");
        }
        Command::Backup { cfg, out } => {
            let config = load_config(&cfg, Overrides::default())?;
            init_logs(config.log_json);
            let url = config.database_url();
            let db = sunbid::store::Db::connect(&url).await?;
            let blobs = sunbid::server::open_blobs(&config).await?;
            let m = sunbid::store::backup::backup(&db, &url, &blobs, &out, clock.now()).await?;
            db.close().await;
            println!(
                "backed up {} database (audit log size {}, root {}) and {} blobs ({} bytes) to {}",
                m.dialect,
                m.audit_size,
                m.audit_root,
                m.blobs,
                m.blob_bytes,
                out.display()
            );
        }
        Command::Restore { cfg, from } => {
            let config = load_config(&cfg, Overrides::default())?;
            init_logs(config.log_json);
            std::fs::create_dir_all(&config.data_dir)?;
            let blobs = sunbid::server::open_blobs(&config).await?;
            let m = sunbid::store::backup::restore(&from, &config.database_url(), &blobs).await?;
            println!(
                "restored the {} backup of {} (audit log size {}, root {}, {} blobs); \
                 restore the signing keys before serving",
                m.dialect, m.taken_at, m.audit_size, m.audit_root, m.blobs
            );
        }
        Command::Keys { command } => return keys_command(command, clock.as_ref()),
        Command::Witness {
            log,
            key,
            state,
            name,
            log_vkey,
        } => {
            let opts = sunbid::witness::client::WitnessOptions {
                log,
                key_file: key,
                state_dir: state,
                name,
                log_vkey,
            };
            match sunbid::witness::client::run_once(&opts).await {
                Ok(done) => {
                    println!(
                        "COSIGNED size {} (previously {}); the log shows witnesses: {}",
                        done.size,
                        done.previous,
                        done.witnesses.join(", ")
                    );
                    eprintln!("witness key: {}", done.vkey);
                }
                Err(e @ sunbid::witness::client::WitnessError::Refused(_)) => {
                    println!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    // The platform keeps cosignatures only from keys its configuration
                    // lists: say which key to give it.
                    if let Ok(vkey) = sunbid::witness::client::vkey_of(&opts.key_file, &opts.name) {
                        eprintln!("witness key (witness_keys in the platform's config): {vkey}");
                    }
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::Draw {
            command: DrawCommand::Verify { server, draw },
        } => match sunbid::expert::service::verify_remote(&server, &draw).await? {
            Ok(summary) => println!("MATCH {summary}"),
            Err(reason) => {
                println!("MISMATCH {reason}");
                return Ok(ExitCode::FAILURE);
            }
        },
        Command::Audit {
            command: AuditCommand::Export { server, out, token },
        } => {
            let text = sunbid::audit::export::export(&server, token.as_deref()).await?;
            std::fs::write(&out, &text)?;
            println!(
                "exported {} events to {}",
                text.lines().count().saturating_sub(1),
                out.display()
            );
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    server: None,
                    file: Some(file),
                    vkey,
                    ..
                },
        } => {
            use sunbid::audit::export::{FileVerdict, verify_export};
            let text = std::fs::read_to_string(&file)?;
            match verify_export(&text, vkey.as_deref()) {
                FileVerdict::Ok {
                    size,
                    withheld,
                    vkey: key,
                } => {
                    println!("OK {size}");
                    if withheld > 0 {
                        eprintln!("{withheld} entries are held as leaf hashes only");
                    }
                    if vkey.is_none() {
                        eprintln!(
                            "checked with the key the file names; pin the platform's with --vkey {key}"
                        );
                    }
                }
                FileVerdict::Refused(why) => {
                    println!("REFUSED {why}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    server: Some(server),
                    state: Some(state),
                    vkey,
                    token,
                    report_key,
                    report_name,
                    ..
                },
        } => {
            use sunbid::witness::incremental::{IncrementalError, IncrementalOptions, run};
            let opts = IncrementalOptions {
                server,
                state_dir: state,
                vkey,
                token,
                report_as: report_key.map(|k| (k, report_name)),
            };
            match run(&opts).await {
                Ok(v) => {
                    println!(
                        "OK {} {} ({} new events verified since size {})",
                        v.size,
                        hex::encode(v.root),
                        v.size - v.previous,
                        v.previous
                    );
                    if v.withheld > 0 {
                        eprintln!(
                            "{} new entries are withheld until their disclosure time; they were checked by leaf hash only",
                            v.withheld
                        );
                    }
                    if opts.vkey.is_none() && v.previous == 0 {
                        eprintln!("pinned the server's published key {}", v.vkey);
                    }
                }
                Err(
                    e @ (IncrementalError::Refused(_)
                    | IncrementalError::BadEvent { .. }
                    | IncrementalError::Root { .. }),
                ) => {
                    println!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    server,
                    vkey,
                    token,
                    ..
                },
        } => {
            let server = server.unwrap_or_default();
            let (verdict, key) = verify_server(&server, vkey.as_deref(), token.as_deref()).await?;
            match verdict {
                Verdict::Ok {
                    size,
                    root,
                    withheld,
                } => {
                    println!("OK {size} {}", hex::encode(root));
                    if withheld > 0 {
                        eprintln!(
                            "{withheld} entries are withheld until their disclosure time; they were checked by leaf hash only"
                        );
                    }
                    if vkey.is_none() {
                        eprintln!(
                            "verified with the server's published key; pin it next time with --vkey {key}"
                        );
                    }
                }
                Verdict::BadEvent { seq, reason } => {
                    println!("MISMATCH event {seq}: {reason}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Bid {
            command:
                BidCommand::Submit {
                    server,
                    tender,
                    form,
                    attach,
                    token,
                    username,
                    vkey,
                    out,
                },
        } => {
            let credentials = match (username, token) {
                (Some(username), _) => {
                    let mut password = String::new();
                    std::io::stdin().read_line(&mut password)?;
                    Credentials::Password {
                        username,
                        password: password.trim_end_matches(['\r', '\n']).to_string(),
                    }
                }
                (None, Some(token)) => Credentials::Token(token),
                (None, None) => anyhow::bail!(
                    "log in with --token T, $SUNBID_TOKEN, or --username U (password on standard input)"
                ),
            };
            let opts = SubmitOptions {
                server,
                tender,
                form,
                attachments: attach,
                credentials,
                vkey,
                out,
            };
            let done = match submit_bid(&opts).await {
                Ok(done) => done,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let r = &done.receipt;
            println!(
                "submitted bid {} to tender {} as bidder {}",
                r.bid_id, r.tender_code, r.bidder_id
            );
            println!(
                "  price {} fen, {} days, {} part(s):",
                done.form.price_fen,
                done.form.duration_days,
                done.sent.len()
            );
            for p in &done.sent {
                println!(
                    "    {:<10} {}  {} bytes  sha256 {}",
                    p.label,
                    p.name,
                    p.size,
                    hex::encode(p.sha256)
                );
            }
            println!(
                "  server time {}, audit index {}; receipt signature OK (key {})",
                r.server_time_text(),
                r.audit_index,
                done.key_label
            );
            println!("receipt written to {}", done.receipt_path.display());
            if done.key_source != KeySource::Pinned {
                eprintln!(
                    "verified with the server's published key; pin it next time with --vkey {}",
                    done.vkey
                );
            }
        }
        Command::Receipt {
            command:
                ReceiptCommand::Verify {
                    receipt,
                    server,
                    vkey,
                    offline,
                    witness_vkeys,
                },
        } => match verify_receipt_file(
            &receipt,
            if offline { None } else { server.as_deref() },
            vkey.as_deref(),
            &witness_vkeys,
        )
        .await
        {
            Ok((signed, label, vkey, source, proof)) => {
                let r = &signed.receipt;
                println!(
                    "OK receipt {} tender {} parts {}",
                    r.bid_id,
                    r.tender_code,
                    r.parts.len()
                );
                match source {
                    KeySource::Pinned => eprintln!("verified with the pinned key {label}"),
                    KeySource::Published(url) => eprintln!(
                        "verified with the key published at {url} ({label}); pin it next time with --vkey {vkey}"
                    ),
                }
                match proof {
                    Some(p) => eprintln!(
                        "inclusion proof OK: audit event {} is in the checkpoint of size {}{}",
                        p.index,
                        p.size,
                        if p.witnesses.is_empty() {
                            String::new()
                        } else {
                            format!(", cosigned by {}", p.witnesses.join(", "))
                        }
                    ),
                    None => eprintln!("the receipt carries no inclusion proof"),
                }
            }
            Err(ClientError::Receipt(e)) => {
                println!("FAILED {}: {e}", receipt.display());
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn keys_command(command: KeysCommand, clock: &dyn Clock) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Generate { out } => {
            let kid = sunbid::keys::generate_file(&out)?;
            println!("wrote key {kid} to {}", out.display());
        }
        KeysCommand::Rotate {
            cfg,
            keys,
            purpose,
            out,
        } => {
            let purpose = Purpose::parse(&purpose)
                .ok_or_else(|| anyhow::anyhow!("--purpose is platform or session"))?;
            let config = load_config(&cfg, keys.overrides())?;
            let loc = config.key_location(purpose)?;
            let done = sunbid::keys::rotate(&loc, clock.now(), out.as_deref())?;
            println!(
                "retired {} key {} (public key kept in {})",
                purpose.name(),
                done.old_kid,
                done.retired_file.display()
            );
            println!(
                "new {} key {} written to {}",
                purpose.name(),
                done.new_kid,
                done.new_file.display()
            );
            eprintln!(
                "restart every sunbid serve process now: until then they sign with the old key"
            );
        }
        KeysCommand::List { cfg, keys } => {
            let config = load_config(&cfg, keys.overrides())?;
            for purpose in [Purpose::Platform, Purpose::Session] {
                let loc = config.key_location(purpose)?;
                // Listing never creates a key.
                let ring = KeyRing::load(&loc.existing())?;
                for k in ring.all() {
                    let state = match (k.active, k.retired_at) {
                        (true, _) => format!("active   {}", loc.source.describe()),
                        (false, Some(t)) => format!("retired  {}", t.to_rfc3339()),
                        (false, None) => "retired".to_string(),
                    };
                    println!("{:<9} {}  {state}", purpose.name(), k.kid);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
