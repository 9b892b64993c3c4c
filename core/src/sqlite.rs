//! `Database` over SQLite (the engine under D1), with every migration applied: the core's
//! tests and tools run the very statements production runs on D1.

use crate::db::{normalize_number, Database, Param, Statement};
use crate::{internal, Result};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::path::Path;

pub struct Sqlite {
    conn: RefCell<Connection>,
}

fn to_sql(p: &Param) -> SqlValue {
    match p {
        Param::Null => SqlValue::Null,
        Param::Int(i) => SqlValue::Integer(*i),
        Param::Real(f) => SqlValue::Real(*f),
        Param::Text(s) => SqlValue::Text(s.clone()),
    }
}

fn to_json(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => serde_json::Value::from(i),
        ValueRef::Real(f) => normalize_number(serde_json::Value::from(f)),
        ValueRef::Text(t) => serde_json::Value::from(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => serde_json::Value::from(b.to_vec()),
    }
}

fn run(conn: &Connection, s: &Statement) -> Result<u64> {
    let params: Vec<SqlValue> = s.params.iter().map(to_sql).collect();
    let mut prepared = conn
        .prepare_cached(&s.sql)
        .map_err(|e| internal(format!("sqlite: {e}: {}", s.sql)))?;
    let changed = prepared
        .execute(rusqlite::params_from_iter(params))
        .map_err(|e| internal(format!("sqlite: {e}")))?;
    Ok(changed as u64)
}

impl Sqlite {
    /// An in-memory database with every migration in `dir` applied in name order.
    pub fn migrated(dir: &Path) -> Result<Sqlite> {
        let conn = Connection::open_in_memory().map_err(internal)?;
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(internal)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).map_err(internal)?;
            conn.execute_batch(&sql)
                .map_err(|e| internal(format!("{}: {e}", file.display())))?;
        }
        Ok(Sqlite {
            conn: RefCell::new(conn),
        })
    }

    /// The project's own migrations.
    pub fn with_project_migrations() -> Result<Sqlite> {
        Sqlite::migrated(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations"))
    }

    /// Runs raw SQL (test set-up).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.conn.borrow().execute_batch(sql).map_err(internal)
    }
}

impl Database for Sqlite {
    async fn execute(&self, statement: Statement) -> Result<u64> {
        run(&self.conn.borrow(), &statement)
    }

    async fn query<T: DeserializeOwned>(&self, s: Statement) -> Result<Vec<T>> {
        let conn = self.conn.borrow();
        let params: Vec<SqlValue> = s.params.iter().map(to_sql).collect();
        let mut prepared = conn
            .prepare_cached(&s.sql)
            .map_err(|e| internal(format!("sqlite: {e}: {}", s.sql)))?;
        let names: Vec<String> = prepared.column_names().iter().map(|n| (*n).to_owned()).collect();
        let mut rows = prepared
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| internal(format!("sqlite: {e}")))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| internal(format!("sqlite: {e}")))? {
            let mut object = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                let value = row.get_ref(i).map_err(internal)?;
                object.insert(name.clone(), to_json(value));
            }
            out.push(
                serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| internal(format!("row: {e}")))?,
            );
        }
        Ok(out)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>> {
        let mut conn = self.conn.borrow_mut();
        let tx = conn.transaction().map_err(internal)?;
        let mut changed = Vec::with_capacity(statements.len());
        for s in &statements {
            changed.push(run(&tx, s)?);
        }
        tx.commit().map_err(internal)?;
        Ok(changed)
    }
}
