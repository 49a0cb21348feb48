//! Copies a SQLite database into PostgreSQL (`ispotato db migrate`): every table, in one
//! PostgreSQL transaction that is committed only after the row counts match, so the target ends
//! with all of the source or none of it. A target that holds data is refused unless the caller
//! says to replace it.

use postgres::types::ToSql;
use postgres::Transaction;
use rusqlite::Connection;

use super::{PostgresStore, SqliteStore, StoreError};

/// What to do with a target that already holds rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Refuse,
    /// Empty the target's tables first (in the same transaction).
    Replace,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("the target already holds data ({0}); pass --replace to overwrite it")]
    TargetNotEmpty(String),
    #[error("table {table}: copied {copied} of {expected} rows; nothing was committed")]
    CountMismatch {
        table: &'static str,
        expected: u64,
        copied: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for TransferError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<postgres::Error> for TransferError {
    fn from(e: postgres::Error) -> Self {
        Self::Store(e.into())
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    OptText,
    I64,
    I32,
    F64,
    /// 0/1 in SQLite, BOOLEAN in PostgreSQL.
    Bool,
    Bytes,
}

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    order: &'static str,
}

/// Every table of the schema (the migration version is the target's own).
const TABLES: &[Table] = &[
    Table {
        name: "verdicts",
        columns: &[
            ("id", Kind::I64),
            ("platform", Kind::Text),
            ("chat_id", Kind::Text),
            ("message_id", Kind::Text),
            ("image_index", Kind::I32),
            ("user_hash", Kind::Text),
            ("image_sha256", Kind::Text),
            ("label", Kind::Text),
            ("probability", Kind::F64),
            ("model_version", Kind::Text),
            ("decode_ms", Kind::F64),
            ("preprocess_ms", Kind::F64),
            ("inference_ms", Kind::F64),
            ("created_at", Kind::I64),
        ],
        order: "id",
    },
    Table {
        name: "votes",
        columns: &[
            ("platform", Kind::Text),
            ("chat_id", Kind::Text),
            ("message_id", Kind::Text),
            ("user_hash", Kind::Text),
            ("agree", Kind::Bool),
            ("source", Kind::Text),
            ("emoji", Kind::OptText),
            ("created_at", Kind::I64),
        ],
        order: "created_at",
    },
    Table {
        name: "kept_images",
        columns: &[
            ("sha256", Kind::Text),
            ("bytes", Kind::Bytes),
            ("created_at", Kind::I64),
        ],
        order: "created_at",
    },
    Table {
        name: "draw_states",
        columns: &[
            ("deck_key", Kind::Text),
            ("served", Kind::Text),
            ("last_id", Kind::OptText),
            ("updated_at", Kind::I64),
        ],
        order: "deck_key",
    },
    Table {
        name: "deliveries",
        columns: &[
            ("platform", Kind::Text),
            ("update_id", Kind::Text),
            ("received_at", Kind::I64),
        ],
        order: "received_at",
    },
    Table {
        name: "shared_values",
        columns: &[("name", Kind::Text), ("value", Kind::Bytes)],
        order: "name",
    },
];

/// One cell on its way from SQLite to PostgreSQL.
enum Value {
    Text(String),
    OptText(Option<String>),
    I64(i64),
    I32(i32),
    F64(f64),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl Value {
    fn read(row: &rusqlite::Row<'_>, i: usize, kind: Kind) -> rusqlite::Result<Self> {
        Ok(match kind {
            Kind::Text => Self::Text(row.get(i)?),
            Kind::OptText => Self::OptText(row.get(i)?),
            Kind::I64 => Self::I64(row.get(i)?),
            Kind::I32 => Self::I32(row.get(i)?),
            Kind::F64 => Self::F64(row.get(i)?),
            Kind::Bool => Self::Bool(row.get(i)?),
            Kind::Bytes => Self::Bytes(row.get(i)?),
        })
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Text(v) => v,
            Self::OptText(v) => v,
            Self::I64(v) => v,
            Self::I32(v) => v,
            Self::F64(v) => v,
            Self::Bool(v) => v,
            Self::Bytes(v) => v,
        }
    }
}

/// Rows copied per table, in schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferReport {
    pub tables: Vec<(&'static str, u64)>,
}

/// Copies every row of `from` into `to` (both already opened, so both schemas are current).
/// `salt`, when given, becomes the target's shared user-id salt, so users hashed with the
/// SQLite install's salt file keep their identity on PostgreSQL.
pub fn sqlite_to_postgres(
    from: &SqliteStore,
    to: &PostgresStore,
    overwrite: Overwrite,
    salt: Option<&[u8]>,
) -> Result<TransferReport, TransferError> {
    let source = from.connection();
    let mut client = to.client()?;
    let mut tx = client.transaction()?;
    let held = target_counts(&mut tx)?;
    if held.iter().any(|(_, n)| *n > 0) {
        match overwrite {
            Overwrite::Refuse => {
                let listed: Vec<String> = held
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(t, n)| format!("{n} {t}"))
                    .collect();
                return Err(TransferError::TargetNotEmpty(listed.join(", ")));
            }
            Overwrite::Replace => {
                let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
                tx.batch_execute(&format!("TRUNCATE {}", names.join(", ")))?;
            }
        }
    }
    let mut report = Vec::new();
    for table in TABLES {
        let copied = copy_table(&source, &mut tx, table)?;
        report.push((table.name, copied));
    }
    if let Some(salt) = salt {
        tx.execute(
            "INSERT INTO shared_values (name, value) VALUES ('user_salt', $1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&salt],
        )?;
    }
    // Identity columns continue after the copied ids.
    tx.batch_execute(
        "SELECT setval(pg_get_serial_sequence('verdicts', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM verdicts",
    )?;
    // The salt row is one more than the source had, unless the source had one already.
    let source_salt: i64 =
        source.query_row("SELECT COUNT(*) FROM shared_values WHERE name = 'user_salt'", [], |r| {
            r.get(0)
        })?;
    let added_salt = u64::from(salt.is_some() && source_salt == 0);
    // Verify inside the transaction: a mismatch rolls everything back.
    for ((table, copied), (_, held)) in report.iter().zip(target_counts(&mut tx)?) {
        let expected = if *table == "shared_values" {
            copied + added_salt
        } else {
            *copied
        };
        if held != expected {
            return Err(TransferError::CountMismatch {
                table,
                expected,
                copied: held,
            });
        }
    }
    tx.commit()?;
    Ok(TransferReport { tables: report })
}

fn target_counts(tx: &mut Transaction<'_>) -> Result<Vec<(&'static str, u64)>, postgres::Error> {
    TABLES
        .iter()
        .map(|t| {
            let n: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {}", t.name), &[])?.get(0);
            Ok((t.name, n.max(0) as u64))
        })
        .collect()
}

/// Streams one table across; returns the rows copied, checked against the source's count.
fn copy_table(source: &Connection, tx: &mut Transaction<'_>, table: &Table) -> Result<u64, TransferError> {
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let insert = tx.prepare(&format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        names.join(", "),
        placeholders.join(", ")
    ))?;
    let expected: i64 = source.query_row(&format!("SELECT COUNT(*) FROM {}", table.name), [], |r| r.get(0))?;
    let mut select = source.prepare(&format!(
        "SELECT {} FROM {} ORDER BY {}",
        names.join(", "),
        table.name,
        table.order
    ))?;
    let mut rows = select.query([])?;
    let mut copied = 0u64;
    while let Some(row) = rows.next()? {
        let values = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| Value::read(row, i, *kind))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(Value::as_sql).collect();
        copied += tx.execute(&insert, &params)?;
    }
    if copied != expected.max(0) as u64 {
        return Err(TransferError::CountMismatch {
            table: table.name,
            expected: expected.max(0) as u64,
            copied,
        });
    }
    Ok(copied)
}
