//! `scimgate store migrate`: copy an embedded (SQLite) store into another
//! store, PostgreSQL in practice, table by table with every key kept, then
//! compare the row counts of both sides.

use std::path::Path;

use super::sql::{Arg, Cell, Dialect, args};
use super::{Result, Store, StoreError};

/// Rows copied per transaction.
const BATCH: i64 = 2000;

/// A table, its columns in both schemas, and an order that pages through
/// it the same way on every pass.
struct Table {
    name: &'static str,
    columns: &'static str,
    order: &'static str,
}

/// Parents before children, so that every foreign key finds its row.
const TABLES: &[Table] = &[
    Table {
        name: "resources",
        columns: "seq, tenant, kind, id, name_key, display, external_id, version, created, last_modified, doc",
        order: "seq",
    },
    Table { name: "emails", columns: "resource_seq, tenant, value_key", order: "rowid" },
    Table { name: "memberships", columns: "group_seq, member_seq, display, position", order: "group_seq, member_seq" },
    Table { name: "tokens", columns: "id, tenant, hash, created, revoked", order: "id" },
    Table {
        name: "provisioning_log",
        columns: "seq, time, tenant, operation, resource_type, resource_id, outcome, status, duration_us, error, \
                  request_id, detail, failed_by, trace",
        order: "seq",
    },
    Table {
        name: "target_accounts",
        columns: "tenant, kind, target_id, active, created, last_modified, doc",
        order: "tenant, kind, target_id",
    },
    // Inserted in rowid order, so the target's own `seq` keeps the order
    // match keys were written in.
    Table { name: "target_keys", columns: "tenant, kind, attribute, value_key, target_id", order: "rowid" },
    Table { name: "links", columns: "resource_seq, tenant, kind, target_id, in_scope", order: "resource_seq" },
];

/// Tables whose generated `seq` must continue after the copied rows.
const SEQUENCED: &[&str] = &["resources", "provisioning_log", "target_keys"];

/// How many rows a table holds on each side after a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

impl<'a> From<&'a Cell> for Arg<'a> {
    fn from(cell: &'a Cell) -> Self {
        match cell {
            Cell::Null => Arg::Null,
            Cell::Int(v) => Arg::Int(*v),
            Cell::Text(s) => Arg::Text(s),
            Cell::Blob(b) => Arg::Blob(b),
        }
    }
}

/// Copy the SQLite store at `from` into `to`, which must hold no data yet.
/// Blocking (the CLI). Fails if any table's counts differ afterwards.
pub fn copy_sqlite_to(from: &Path, to: &Store) -> Result<Vec<TableCount>> {
    if !from.exists() {
        return Err(StoreError::Transfer(format!("{} does not exist", from.display())));
    }
    let source = Store::open(from)?;
    let before = counts(to)?;
    if let Some((table, n)) = before.iter().find(|(_, n)| *n > 0) {
        return Err(StoreError::Transfer(format!(
            "{} already holds data ({n} rows in {table}); migrate into an empty database",
            to.describe()
        )));
    }
    for table in TABLES {
        let select =
            format!("SELECT {} FROM {} ORDER BY {} LIMIT ?1 OFFSET ?2", table.columns, table.name, table.order);
        let placeholders: Vec<String> = (1..=table.columns.split(',').count()).map(|i| format!("?{i}")).collect();
        let insert = format!("INSERT INTO {} ({}) VALUES ({})", table.name, table.columns, placeholders.join(", "));
        let mut offset = 0;
        loop {
            let select = select.clone();
            let rows = source.read_blocking(move |c| c.query(&select, args![BATCH, offset]))?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as i64;
            let insert = insert.clone();
            to.write_blocking(move |tx| {
                for row in &rows {
                    let values: Vec<Arg<'_>> = row.0.iter().map(Arg::from).collect();
                    tx.execute(&insert, &values)?;
                }
                Ok(())
            })?;
        }
    }
    to.write_blocking(|tx| {
        if tx.dialect() == Dialect::Postgres {
            for table in SEQUENCED {
                tx.query_one(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', 'seq'), coalesce(max(seq), 0) + 1, false) FROM {table}"
                    ),
                    &[],
                )?;
            }
        }
        Ok(())
    })?;
    let (source_counts, target_counts) = (counts(&source)?, counts(to)?);
    let report: Vec<TableCount> = source_counts
        .into_iter()
        .zip(target_counts)
        .map(|((table, source), (_, target))| TableCount { table, source, target })
        .collect();
    if let Some(bad) = report.iter().find(|c| c.source != c.target) {
        return Err(StoreError::Transfer(format!(
            "count check failed: {} has {} rows in the source and {} in the target",
            bad.table, bad.source, bad.target
        )));
    }
    Ok(report)
}

fn counts(store: &Store) -> Result<Vec<(&'static str, i64)>> {
    store.read_blocking(|c| {
        TABLES
            .iter()
            .map(|t| Ok((t.name, c.query_one(&format!("SELECT count(*) FROM {}", t.name), &[])?.int(0)?)))
            .collect()
    })
}
