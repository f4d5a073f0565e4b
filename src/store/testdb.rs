//! Fresh PostgreSQL databases for tests: one variable, `SUNBID_TEST_PG_URL` (an admin URL),
//! and a new database per test kit, so tests never see each other's rows.

use sqlx::Connection;

/// Creates a fresh database named `{prefix}_{uuid}` on the server of `SUNBID_TEST_PG_URL`
/// and returns its URL; `None` (the test skips) when the variable is not set, and a failure
/// when `CI` is set without it, so a CI run can never skip PostgreSQL silently.
pub async fn fresh_postgres(prefix: &str) -> Option<String> {
    let Ok(admin) = std::env::var("SUNBID_TEST_PG_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but SUNBID_TEST_PG_URL is not: the PostgreSQL tests need it"
        );
        eprintln!("SUNBID_TEST_PG_URL not set: skipping a PostgreSQL test");
        return None;
    };
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("admin connection to SUNBID_TEST_PG_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    Some(match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => admin,
    })
}

/// Drops a database [`fresh_postgres`] created (best effort: a leftover only costs disk).
pub async fn drop_postgres(url: &str) {
    let (Ok(admin), Some((_, name))) = (std::env::var("SUNBID_TEST_PG_URL"), url.rsplit_once('/'))
    else {
        return;
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists {name} with (force)"
        )))
        .execute(&mut conn)
        .await;
    }
}
