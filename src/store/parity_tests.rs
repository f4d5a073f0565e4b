//! The SQLite and PostgreSQL migrations must describe the same schema: the same tables, the
//! same columns (name, nullability and a coarse type class) and the same explicitly created
//! indexes (name, table, columns, uniqueness). Each dialect has its own files, so nothing
//! else stops a column from being added to one and forgotten in the other.
//!
//! Needs `SUNBID_TEST_PG_URL` (an admin URL; a fresh database is created and dropped). Without
//! it the test is skipped with a message, or fails when `CI` is set.

use std::collections::BTreeMap;

use sqlx::Row;

use super::Db;

/// One column as both dialects can describe it.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Column {
    not_null: bool,
    class: &'static str,
}

/// One explicitly created index.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Index {
    table: String,
    columns: Vec<String>,
    unique: bool,
}

#[derive(Debug, Default)]
struct Schema {
    /// table → column → description
    tables: BTreeMap<String, BTreeMap<String, Column>>,
    /// index name → description
    indexes: BTreeMap<String, Index>,
}

/// The storage class a declared type falls into; the dialects spell the same intent
/// differently (`integer` vs `bigint`, `blob` vs `bytea`).
fn class_of(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") || t == "boolean" || t == "bool" {
        "integer"
    } else if t.contains("char") || t.contains("text") || t == "uuid" || t.contains("json") {
        "text"
    } else if t == "blob" || t == "bytea" {
        "bytes"
    } else if t.contains("real") || t.contains("double") || t.contains("numeric") {
        "real"
    } else {
        "other"
    }
}

async fn sqlite_schema(path: &std::path::Path) -> Schema {
    let url = format!("sqlite://{}", path.display());
    let db = Db::connect(&url).await.expect("sqlite connect");
    db.migrate().await.expect("sqlite migrations");
    let Db::Sqlite(pool, _) = &db else {
        unreachable!("a sqlite url gives a sqlite pool")
    };
    let mut schema = Schema::default();
    let tables = sqlx::query(
        "select name from sqlite_master where type = 'table'
         and name not like 'sqlite_%' and name <> '_sqlx_migrations' order by name",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    for t in tables {
        let table: String = t.get(0);
        let cols = sqlx::query(
            "select name, type, \"notnull\", pk from pragma_table_info($1) order by cid",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .expect("columns");
        let mut map = BTreeMap::new();
        for c in cols {
            let name: String = c.get(0);
            let ty: String = c.get(1);
            let not_null: i64 = c.get(2);
            let pk: i64 = c.get(3);
            // PostgreSQL makes primary-key columns not null implicitly; SQLite does not say so.
            map.insert(
                name,
                Column {
                    not_null: not_null != 0 || pk != 0,
                    class: class_of(&ty),
                },
            );
        }
        schema.tables.insert(table, map);
    }
    let indexes = sqlx::query(
        "select name, tbl_name from sqlite_master where type = 'index' and sql is not null
         order by name",
    )
    .fetch_all(pool)
    .await
    .expect("indexes");
    for i in indexes {
        let name: String = i.get(0);
        let table: String = i.get(1);
        let cols = sqlx::query("select name from pragma_index_info($1) order by seqno")
            .bind(&name)
            .fetch_all(pool)
            .await
            .expect("index columns");
        let unique: i64 =
            sqlx::query("select \"unique\" from pragma_index_list($1) where name = $2")
                .bind(&table)
                .bind(&name)
                .fetch_one(pool)
                .await
                .expect("index uniqueness")
                .get(0);
        schema.indexes.insert(
            name,
            Index {
                table,
                // An expression index lists a null column name.
                columns: cols
                    .iter()
                    .map(|c| {
                        c.get::<Option<String>, _>(0)
                            .unwrap_or_else(|| "<expr>".into())
                    })
                    .collect(),
                unique: unique != 0,
            },
        );
    }
    db.close().await;
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let db = Db::connect(url).await.expect("postgres connect");
    db.migrate().await.expect("postgres migrations");
    let Db::Postgres(pool, _) = &db else {
        unreachable!("a postgres url gives a postgres pool")
    };
    let mut schema = Schema::default();
    let cols = sqlx::query(
        "select c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable::text
         from information_schema.columns c
         join information_schema.tables t
           on t.table_schema = c.table_schema and t.table_name = c.table_name
         where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
           and c.table_name <> '_sqlx_migrations'
         order by c.table_name, c.ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("columns");
    for c in cols {
        let table: String = c.get(0);
        let name: String = c.get(1);
        let ty: String = c.get(2);
        let nullable: String = c.get(3);
        schema.tables.entry(table).or_default().insert(
            name,
            Column {
                not_null: nullable == "NO",
                class: class_of(&ty),
            },
        );
    }
    // Indexes created with `create index`, not those behind a primary key or unique constraint
    // (SQLite keeps those as unnamed autoindexes, left out above as well).
    let indexes = sqlx::query(
        "select ic.relname::text, tc.relname::text, ix.indisunique,
                array(select coalesce(a.attname::text, '<expr>')
                      from unnest(ix.indkey) with ordinality k(attnum, ord)
                      left join pg_attribute a on a.attrelid = ix.indrelid and a.attnum = k.attnum
                      order by k.ord)
         from pg_index ix
         join pg_class ic on ic.oid = ix.indexrelid
         join pg_class tc on tc.oid = ix.indrelid
         join pg_namespace n on n.oid = tc.relnamespace
         where n.nspname = 'public'
           and not exists (select 1 from pg_constraint con where con.conindid = ix.indexrelid)
         order by ic.relname",
    )
    .fetch_all(pool)
    .await
    .expect("indexes");
    for i in indexes {
        let name: String = i.get(0);
        let table: String = i.get(1);
        let unique: bool = i.get(2);
        let columns: Vec<String> = i.get(3);
        schema.indexes.insert(
            name,
            Index {
                table,
                columns,
                unique,
            },
        );
    }
    db.close().await;
    schema
}

/// Every difference between the two, one line each.
fn differences(lite: &Schema, pg: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (table, cols) in &lite.tables {
        let Some(pg_cols) = pg.tables.get(table) else {
            out.push(format!("table {table}: only in sqlite"));
            continue;
        };
        for (col, c) in cols {
            match pg_cols.get(col) {
                None => out.push(format!("column {table}.{col}: only in sqlite")),
                Some(p) if p != c => out.push(format!(
                    "column {table}.{col}: sqlite {c:?}, postgres {p:?}"
                )),
                Some(_) => {}
            }
        }
        for col in pg_cols.keys().filter(|c| !cols.contains_key(*c)) {
            out.push(format!("column {table}.{col}: only in postgres"));
        }
    }
    for table in pg.tables.keys().filter(|t| !lite.tables.contains_key(*t)) {
        out.push(format!("table {table}: only in postgres"));
    }
    for (name, i) in &lite.indexes {
        match pg.indexes.get(name) {
            None => out.push(format!("index {name}: only in sqlite")),
            Some(p) if p != i => out.push(format!("index {name}: sqlite {i:?}, postgres {p:?}")),
            Some(_) => {}
        }
    }
    for name in pg.indexes.keys().filter(|n| !lite.indexes.contains_key(*n)) {
        out.push(format!("index {name}: only in postgres"));
    }
    out
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_give_the_same_schema() {
    let Some(url) = super::testdb::fresh_postgres("sunbid_parity").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let lite = sqlite_schema(&dir.path().join("parity.db")).await;
    let pg = postgres_schema(&url).await;
    super::testdb::drop_postgres(&url).await;
    assert!(!lite.tables.is_empty(), "no tables read from sqlite");
    assert!(!lite.indexes.is_empty(), "no indexes read from sqlite");
    let diff = differences(&lite, &pg);
    assert!(
        diff.is_empty(),
        "the migrations disagree:\n{}",
        diff.join("\n")
    );
}

#[test]
fn a_missing_column_is_reported() {
    let col = Column {
        not_null: true,
        class: "text",
    };
    let mut a = Schema::default();
    a.tables
        .entry("t".into())
        .or_default()
        .insert("x".into(), col.clone());
    let mut b = Schema::default();
    b.tables.entry("t".into()).or_default();
    assert_eq!(differences(&a, &b), vec!["column t.x: only in sqlite"]);
    assert!(differences(&a, &a).is_empty());
}
