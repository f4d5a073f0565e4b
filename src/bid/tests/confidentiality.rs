//! The key test: a copy of everything stored before the deadline reveals no bid.

use super::*;

/// THE KEY TEST: with a copy of the whole database and blob directory taken right after the
/// submissions (before the deadline), trying everything stored recovers no bid plaintext.
pub(crate) async fn scenario_stolen_copy_reveals_nothing(kit: &Kit, dump: &dyn Fn() -> CopyDump) {
    let t = published(kit).await;
    let pk = opening_pk(kit, &t.code).await;
    let third = new_bidder(kit).await;
    let secret_attachment =
        b"TECHNICAL PROPOSAL: secret method no. 7731 for sludge dewatering".to_vec();
    let prices = [98_765_432_101i64, 87_654_321_098, 76_543_210_987];
    let mut envelopes = Vec::new();
    for (who, price) in [&kit.bidder, &kit.bidder2, &third].into_iter().zip(prices) {
        let o = org_of(who);
        let f = seal(&pk, &t.tender_id, &o, "bid-form.json", &form(price));
        let a = seal(&pk, &t.tender_id, &o, "tech.pdf", &secret_attachment);
        let fp = upload(kit, who, &t.code, "form", &f).await.unwrap();
        let ap = upload(kit, who, &t.code, "attachment", &a).await.unwrap();
        service::submit(&kit.state.bids(), who, &t.code, &[fp.part_id, ap.part_id])
            .await
            .unwrap();
        envelopes.push((o.clone(), f));
        envelopes.push((o, a));
    }

    // The thief's copy, taken now.
    let copy = dump();
    let plaintexts: Vec<Vec<u8>> = prices
        .iter()
        .map(|p| form(*p))
        .chain([secret_attachment.clone()])
        .collect();

    // 1. No stored byte string contains any plaintext, nor any price.
    for (name, bytes) in copy.blobs.iter().chain(copy.values.iter()) {
        for p in &plaintexts {
            assert!(!contains(bytes, p), "{name} contains a bid's plaintext");
        }
        for price in prices {
            assert!(
                !contains(bytes, price.to_string().as_bytes()),
                "{name} contains a bid price"
            );
        }
        assert!(!contains(bytes, b"secret method"), "{name}");
    }

    // 2. Every sealed share with every plausible passphrase (none of them the real one).
    let guesses = [
        "sunbid-demo-2026",
        "correct-horse-battery",
        "password123456",
        "custodian passphrase",
    ];
    let mut tried = 0;
    for (user_id, sealed_json) in &copy.shares {
        let sealed: crate::seal::SealedShare = serde_json::from_str(sealed_json).unwrap();
        if sealed.tender_id != t.tender_id {
            continue;
        }
        tried += 1;
        let locked = copy
            .custodian_keys
            .iter()
            .find(|(u, _)| u == user_id)
            .map(|(_, k)| serde_json::from_str::<crate::seal::LockedCustodianKey>(k).unwrap())
            .expect("locked key of the custodian");
        for g in guesses {
            assert!(
                crate::seal::decrypt_share(&locked, g, &sealed, &t.tender_id).is_err(),
                "a guessed passphrase opened a share"
            );
        }
    }

    assert_eq!(tried, 3, "every share of the tender was attacked");

    // 3. Anything key-shaped — every stored value, decoded as text, hex, base64 or
    //    base64url, and every 32- or 33-byte window of it — used as an opening seed, a
    //    private scalar or a share: no envelope opens.
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for (_, bytes) in &copy.values {
        let mut forms = vec![bytes.clone()];
        if let Ok(text) = std::str::from_utf8(bytes) {
            for piece in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_".contains(c))) {
                if piece.len() < 40 {
                    continue;
                }
                if let Ok(b) = hex::decode(piece) {
                    forms.push(b);
                }
                for engine in [
                    &base64::engine::general_purpose::STANDARD,
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                ] {
                    if let Ok(b) = engine.decode(piece) {
                        forms.push(b);
                    }
                }
            }
        }
        for f in forms {
            if f.len() == 32 || f.len() == 33 {
                candidates.push(f);
            }
        }
    }
    candidates.sort();
    candidates.dedup();
    assert!(!candidates.is_empty(), "the attack tried nothing");
    let mut shares_tried = Vec::new();
    for c in &candidates {
        let mut keys = Vec::new();
        if let Ok(seed) = <[u8; 32]>::try_from(c.as_slice()) {
            keys.push(crate::seal::derive_keypair(&seed).0);
            if let Ok(k) = crate::seal::PrivateKey::from_scalar_bytes(&seed) {
                keys.push(k);
            }
        }
        if let Ok(s) = crate::seal::Share::from_bytes(c) {
            shares_tried.push(s);
        }
        for key in keys {
            assert_ne!(key.public_key(), pk, "a stored value is the opening key");
            for (bidder, env) in &envelopes {
                let mut out = Vec::new();
                assert!(
                    crate::seal::open_stream(&mut &env[..], &mut out, &key, &t.tender_id, bidder)
                        .is_err(),
                    "a stored value opened a bid"
                );
            }
        }
    }
    // Any pair of share-shaped values combined.
    for (i, a) in shares_tried.iter().enumerate() {
        for b in shares_tried.iter().skip(i + 1) {
            assert!(crate::seal::rebuild_and_check(&[a.clone(), b.clone()], &pk).is_err());
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// What a thief copied: every blob file, every stored value (as bytes), and the key tables.
pub(crate) struct CopyDump {
    blobs: Vec<(String, Vec<u8>)>,
    values: Vec<(String, Vec<u8>)>,
    shares: Vec<(String, String)>,
    custodian_keys: Vec<(String, String)>,
}

/// Copies the SQLite database files and the blob directory, then reads the copy with a
/// plain connection (no application code).
pub(super) fn sqlite_copy(data_dir: &std::path::Path) -> CopyDump {
    let dest = tempfile::tempdir().unwrap();
    for f in blob_files(data_dir) {
        let rel = f.strip_prefix(data_dir).unwrap();
        let to = dest.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
    let blobs = blob_files(&dest.path().join("blobs"))
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    let db_path = dest.path().join("t.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (values, shares, custodian_keys) = rt.block_on(async {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
            .await
            .unwrap();
        let tables: Vec<String> =
            sqlx::query("select name from sqlite_master where type = 'table'")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
        let mut values = Vec::new();
        for table in tables {
            let cols: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "select name from pragma_table_info('{table}')"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            for col in cols {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select hex(\"{col}\") from \"{table}\""
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for r in rows {
                    let h: Option<String> = r.get(0);
                    if let Some(bytes) = h.and_then(|h| hex::decode(h).ok()) {
                        values.push((format!("{table}.{col}"), bytes));
                    }
                }
            }
        }
        let shares: Vec<(String, String)> =
            sqlx::query_as("select user_id, sealed_json from tender_key_share")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let keys: Vec<(String, String)> =
            sqlx::query_as("select user_id, locked_json from custodian_key")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        (values, shares, keys)
    });
    CopyDump {
        blobs,
        values,
        shares,
        custodian_keys,
    }
}

/// The PostgreSQL variant of the thief's copy: every column of every table, as text.
pub(super) fn pg_copy(data_dir: &std::path::Path, url: &str) -> CopyDump {
    let blobs = blob_files(&data_dir.join("blobs"))
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let cols: Vec<(String, String)> = sqlx::query_as(
            "select table_name::text, column_name::text from information_schema.columns where table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut values = Vec::new();
        for (table, col) in cols {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("select \"{col}\"::text from \"{table}\"")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            for r in rows {
                let v: Option<String> = r.get(0);
                if let Some(v) = v {
                    // bytea renders as \x<hex>: keep both the text and the raw bytes.
                    if let Some(b) = v.strip_prefix("\\x").and_then(|h| hex::decode(h).ok()) {
                        values.push((format!("{table}.{col}"), b));
                    }
                    values.push((format!("{table}.{col}"), v.into_bytes()));
                }
            }
        }
        let shares: Vec<(String, String)> = sqlx::query_as("select user_id, sealed_json from tender_key_share")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let custodian_keys: Vec<(String, String)> = sqlx::query_as("select user_id, locked_json from custodian_key")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        CopyDump {
            blobs,
            values,
            shares,
            custodian_keys,
        }
    })
}
