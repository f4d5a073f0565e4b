//! Telling drawn experts: the in-app notice ([`notice`]) is written in the draw's
//! transaction; a pluggable [`Notifier`] sends to an outside channel after the commit (a
//! slow or failing channel never undoes a draw).
//!
//! Configuration (`Config::notify_webhook`, `SUNBID_NOTIFY_WEBHOOK`): an `http(s)://` URL
//! selects the [`WebhookNotifier`], which POSTs each notification as JSON (an SMS or mail
//! gateway of the trading centre listens there); unset, the [`LogNotifier`] writes it to the
//! log. [`from_settings`] checks the settings once at start-up, so a mistyped URL stops the
//! server instead of silently losing every notification; every process builds the same
//! notifier from the same settings.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ExpertError;
use crate::clock::{cst, to_millis};
use crate::ids::new_id;
use crate::q_exec;
use crate::store::Tx;

/// One message to one expert.
#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    /// What happened (`expert_drawn`, …).
    pub kind: &'static str,
    /// The expert's login, if any.
    pub user_id: Option<String>,
    /// The expert.
    pub expert_id: String,
    /// Their name.
    pub name: String,
    /// The tender.
    pub tender_code: String,
    /// The text (Chinese and English).
    pub body: String,
}

/// A failed delivery.
#[derive(Debug, thiserror::Error)]
#[error("notification not delivered: {0}")]
pub struct NotifyError(pub String);

/// The boxed future a notifier returns.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// An outside channel to experts.
pub trait Notifier: Send + Sync {
    /// Delivers one notification.
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a>;
}

/// Writes notifications to the log (development default).
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            // The name stays out of the log: logs travel further than the database.
            tracing::info!(kind = n.kind, expert_id = %n.expert_id, tender = %n.tender_code, "expert notification");
            Ok(())
        })
    }
}

/// POSTs each notification as JSON to a URL.
#[derive(Debug)]
pub struct WebhookNotifier {
    url: String,
    client: reqwest::Client,
}

impl WebhookNotifier {
    /// A notifier for `url` that waits at most `timeout` for each answer.
    pub fn new(url: String, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self { url, client }
    }
}

impl Notifier for WebhookNotifier {
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            let resp = self
                .client
                .post(&self.url)
                .json(n)
                .send()
                .await
                .map_err(|e| NotifyError(e.to_string()))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(NotifyError(format!("webhook answered {}", resp.status())))
            }
        })
    }
}

/// Notifier settings that cannot work.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyConfigError {
    /// The webhook is not an absolute URL.
    #[error("notify_webhook is not a URL: {0}")]
    NotAUrl(String),
    /// The webhook is neither `http://` nor `https://`.
    #[error("notify_webhook must be an http:// or https:// URL, not {0}://")]
    Scheme(String),
    /// The webhook names no host.
    #[error("notify_webhook names no host")]
    NoHost,
    /// The webhook carries a user name or password, which would end up in logs and proxies.
    #[error("notify_webhook must not carry a user or password (put a token in the path or query)")]
    Credentials,
    /// The timeout is outside 1–120 seconds.
    #[error("notify_timeout_secs must be between 1 and 120, not {0}")]
    Timeout(u64),
}

/// The longest a notification may wait for the webhook: the draw's request waits for it.
pub const MAX_TIMEOUT_SECS: u64 = 120;

/// The notifier the settings name: the webhook when one is set (checked here), else the log.
pub fn from_settings(
    webhook: Option<&str>,
    timeout_secs: u64,
) -> Result<Arc<dyn Notifier>, NotifyConfigError> {
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
        return Err(NotifyConfigError::Timeout(timeout_secs));
    }
    let Some(raw) = webhook.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(Arc::new(LogNotifier));
    };
    let url = reqwest::Url::parse(raw).map_err(|e| NotifyConfigError::NotAUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NotifyConfigError::Scheme(url.scheme().to_string()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(NotifyConfigError::NoHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(NotifyConfigError::Credentials);
    }
    Ok(Arc::new(WebhookNotifier::new(
        url.to_string(),
        Duration::from_secs(timeout_secs),
    )))
}

/// The webhook as logs may show it: the origin only (the path or query may hold a token).
pub fn redact_webhook(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}/***", u.origin().ascii_serialization()),
        Err(_) => "***".into(),
    }
}

/// Sends with `notifier`; a failure is logged (the in-app notice stands).
pub async fn send(notifier: &dyn Notifier, n: &Notification) {
    if let Err(e) = notifier.notify(n).await {
        tracing::warn!(error = %e, expert_id = %n.expert_id, "expert notification failed");
    }
}

// ---- in-app notices ----------------------------------------------------------------------

/// Stores an in-app notice for `user_id` in the caller's transaction.
pub(crate) async fn notice(
    tx: &mut Tx,
    now: DateTime<Utc>,
    user_id: &str,
    tender_id: &str,
    kind: &str,
    body: &str,
) -> Result<(), ExpertError> {
    q_exec!(
        tx,
        "insert into notice (notice_id, user_id, tender_id, kind, body, created_at) values ($1, $2, $3, $4, $5, $6)",
        new_id(),
        user_id.to_string(),
        tender_id.to_string(),
        kind.to_string(),
        body.to_string(),
        to_millis(now)
    )?;
    Ok(())
}

/// What a drawn member is told (also what the notifier sends).
#[derive(Clone, Debug, Serialize)]
pub struct DrawnNotice {
    /// The expert's login.
    pub user_id: Option<String>,
    /// Expert id.
    pub expert_id: String,
    /// Name.
    pub name: String,
    /// Tender code.
    pub tender_code: String,
    /// Member number.
    pub member_no: i64,
    /// Evaluation start.
    pub evaluation_at: DateTime<Utc>,
    /// Place.
    pub evaluation_place: String,
    /// Answer before.
    pub respond_by: DateTime<Utc>,
}

impl DrawnNotice {
    /// The text of the notice (Chinese and English).
    pub(crate) fn body(&self) -> String {
        format!(
            "您已被随机抽取为项目 {code} 的评标专家（第{n}号）。评标时间：北京时间 {at}，地点：{place}。请于北京时间 {by} 前在“我的评标任务”中确认或拒绝；评标前请勿向任何人透露。\n\
             You were drawn at random as evaluation expert no. {n} for tender {code}: {at} China time at {place}. Confirm or decline under \"My assignments\" before {by} China time, and tell nobody.",
            code = self.tender_code,
            n = self.member_no,
            at = cst(to_millis(self.evaluation_at)),
            place = self.evaluation_place,
            by = cst(to_millis(self.respond_by)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn webhook_posts_json() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if text.contains("\r\n\r\n") && text.contains("}") {
                    break;
                }
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        let n = from_settings(Some(&format!("http://{addr}/hook")), 5).unwrap();
        let msg = Notification {
            kind: "expert_drawn",
            user_id: None,
            expert_id: "e1".into(),
            name: "王工".into(),
            tender_code: "T-1".into(),
            body: "b".into(),
        };
        n.notify(&msg).await.unwrap();
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /hook"));
        assert!(req.contains("\"expert_id\":\"e1\""));
        assert!(LogNotifier.notify(&msg).await.is_ok());
    }

    #[test]
    fn settings_are_checked() {
        use NotifyConfigError as E;
        let err = |url: &str, secs| from_settings(Some(url), secs).err();
        assert!(from_settings(None, 10).is_ok(), "no webhook: the log");
        assert!(from_settings(Some("  "), 10).is_ok(), "blank: the log");
        assert!(err("https://sms.example.cn/hook?token=abc", 10).is_none());
        assert!(err("http://127.0.0.1:9000/hook", 1).is_none());
        assert!(matches!(
            err("sms.example.cn/hook", 10),
            Some(E::NotAUrl(_))
        ));
        assert!(matches!(err("not a url", 10), Some(E::NotAUrl(_))));
        assert_eq!(
            err("ftp://sms.example.cn/", 10),
            Some(E::Scheme("ftp".into()))
        );
        assert_eq!(err("file:///tmp/hook", 10), Some(E::Scheme("file".into())));
        assert_eq!(
            err("https://user:pw@sms.example.cn/", 10),
            Some(E::Credentials)
        );
        assert_eq!(err("https://sms.example.cn/", 0), Some(E::Timeout(0)));
        assert_eq!(from_settings(None, 121).err(), Some(E::Timeout(121)));
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        assert_eq!(
            redact_webhook("https://sms.example.cn:8443/hook/s3cret?token=abc"),
            "https://sms.example.cn:8443/***"
        );
        assert_eq!(redact_webhook("::"), "***");
    }
}
