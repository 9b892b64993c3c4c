//! The database, one trait per aggregate. `Database` is the only thing an engine implements
//! (D1 in the worker, SQLite in `crate::sqlite`); each aggregate trait (`SessionStore`,
//! `FileStore`, `AccountStore`, `IdempotencyStore`, `EdgeMetricsStore`, `AnalyticsStore`) is
//! implemented once for every `Database` with the statements of `jetty_shared::sql`, so both
//! engines run the very same SQL text and no query can drift between them.

mod accounts;
mod analytics;
mod edges;
mod files;
mod idempotency;
mod sessions;

pub use accounts::*;
pub use analytics::*;
pub use edges::*;
pub use files::*;
pub use idempotency::*;
pub use sessions::*;

use crate::Result;
use serde::de::DeserializeOwned;

/// A bound parameter. Integers are bound as numbers (D1 passes JavaScript numbers).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_owned())
    }
}
impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(v.clone())
    }
}
impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}
impl From<u64> for Param {
    fn from(v: u64) -> Self {
        Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Param {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}
impl From<u16> for Param {
    fn from(v: u16) -> Self {
        Param::Int(i64::from(v))
    }
}
impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Int(i64::from(v))
    }
}
impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}
impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// A statement and its parameters (`?1`, `?2`, … in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<Param>) -> Self {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// `stmt!(SQL, a, b, …)`: a statement with its parameters converted to `Param`.
#[macro_export]
macro_rules! stmt {
    ($sql:expr $(, $p:expr)* $(,)?) => {
        $crate::db::Statement::new($sql, vec![$($crate::db::Param::from($p)),*])
    };
}

/// A SQL engine. `batch` runs its statements as one transaction (D1's `batch`).
pub trait Database {
    /// Runs a statement; how many rows it changed.
    async fn execute(&self, statement: Statement) -> Result<u64>;
    /// Every row, deserialized by column name.
    async fn query<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>>;
    /// Runs the statements in one transaction; the rows each changed.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>>;

    /// The first row, if any.
    async fn first<T: DeserializeOwned>(&self, statement: Statement) -> Result<Option<T>> {
        Ok(self.query(statement).await?.into_iter().next())
    }
}

/// Column values a JSON row model may carry as floats though they are whole numbers (D1 hands
/// numbers over as JavaScript doubles): whole floats become integers, so they read into
/// integer fields as well as float ones.
pub fn normalize_number(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => serde_json::Value::from(f as i64),
            _ => serde_json::Value::Number(n),
        },
        other => other,
    }
}
