//! The state database: the only module that touches SQLite.
//!
//! One file (`praxis.db`, WAL, mode 0600) holds the audit chain (and, in later issues, the
//! fleet graph and approvals).
//! Invariants:
//! - Appends to the audit chain take SQLite's write lock (`BEGIN IMMEDIATE`) and read the
//!   chain head inside that transaction, so any number of processes appending at once build
//!   one chain with no fork and no gap.
//! - An append is committed with the durability the caller asks for: `Full` fsyncs the WAL
//!   before returning, `Normal` survives a process crash.
//! - After migrations, an authorizer stops this connection from dropping or altering tables
//!   and triggers, and from deleting or updating audit rows; SQLite's defensive mode blocks
//!   writes to the schema itself.

pub mod approvals;
pub mod bitemporal;
pub mod facts;
mod schema;

use std::fs::{self, OpenOptions};
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::audit::chain::{SealedRecord, StoredRow};
use crate::digest::Digest;

/// How durable a committed write must be before the call returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Durability {
    /// The WAL is fsynced at commit (`synchronous=FULL`): survives power loss.
    Full,
    /// Committed to the WAL without fsync (`synchronous=NORMAL`): survives a process crash.
    Normal,
}

/// A store failure. Messages name the file and never contain record contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the state database {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the state database {path} does not exist; run `praxis init` first")]
    Missing { path: PathBuf },
    #[error(
        "the state database {path} has schema version {found}, newer than this praxis ({supported}); upgrade praxis"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("state database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Whether `open` may create the database.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OpenMode {
    /// Create the file (mode 0600) and the schema if needed.
    CreateIfMissing,
    /// The file must exist already; the schema is migrated if it is older.
    MustExist,
    /// The file must exist; nothing is written (for verifying a copied trail).
    ReadOnly,
}

/// The state database.
pub struct Store {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl Store {
    /// Opens (and if allowed, creates) the database at `path`.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        let exists = path.exists();
        match (exists, mode) {
            (false, OpenMode::MustExist | OpenMode::ReadOnly) => {
                return Err(StoreError::Missing {
                    path: path.to_owned(),
                });
            }
            (false, OpenMode::CreateIfMissing) => create_private_file(path)?,
            (true, OpenMode::ReadOnly) => {}
            (true, OpenMode::CreateIfMissing | OpenMode::MustExist) => tighten_permissions(path),
        }
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let access = if mode == OpenMode::ReadOnly {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let flags = access | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        #[expect(
            clippy::disallowed_methods,
            reason = "the store is the one module that opens SQLite"
        )]
        let mut connection = Connection::open_with_flags(path, flags).map_err(open_error)?;
        configure(&mut connection, mode).map_err(open_error)?;
        if mode == OpenMode::ReadOnly {
            check_version(&connection, path).map(drop)?;
        } else {
            migrate(&mut connection, path)?;
        }
        lock_down(&mut connection).map_err(open_error)?;
        Ok(Store {
            path: path.to_owned(),
            connection: Mutex::new(connection),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is safe to keep using.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one audit record at the head of the chain.
    ///
    /// `seal` is called inside the write transaction with the next sequence number and the
    /// current head's hash, and returns the record to store.
    pub fn append_audit(
        &self,
        durability: Durability,
        seal: impl FnOnce(u64, &Digest) -> SealedRecord,
    ) -> Result<SealedRecord, StoreError> {
        let mut connection = self.connection();
        set_durability(&connection, durability)?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sealed = append_audit_in(&transaction, seal)?;
        transaction.commit()?;
        Ok(sealed)
    }

    /// Calls `visit` with every audit row from `from_seq` on, in sequence order, inside one
    /// read transaction (a consistent snapshot even while other processes append).
    pub fn for_each_audit_row(
        &self,
        from_seq: u64,
        mut visit: impl FnMut(StoredRow) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Deferred)?;
        {
            let mut statement = transaction.prepare_cached(
                "SELECT seq, entry_hash, body FROM audit WHERE seq >= ?1 ORDER BY seq",
            )?;
            let mut rows = statement.query([i64::try_from(from_seq).unwrap_or(i64::MAX)])?;
            while let Some(row) = rows.next()? {
                let stored = StoredRow {
                    seq: row.get(0)?,
                    entry_hash: row.get(1)?,
                    body: row.get(2)?,
                };
                if visit(stored).is_break() {
                    break;
                }
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// The last `count` audit rows, oldest first.
    pub fn audit_tail(&self, count: u64) -> Result<Vec<StoredRow>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached("SELECT seq, entry_hash, body FROM audit ORDER BY seq DESC LIMIT ?1")?;
        let mut rows = statement
            .query_map([i64::try_from(count).unwrap_or(i64::MAX)], |row| {
                Ok(StoredRow {
                    seq: row.get(0)?,
                    entry_hash: row.get(1)?,
                    body: row.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }

    /// The sequence number of the newest audit record, if any.
    pub fn audit_head_seq(&self) -> Result<Option<u64>, StoreError> {
        let connection = self.connection();
        let seq: Option<i64> =
            connection.query_row("SELECT MAX(seq) FROM audit", [], |row| row.get(0))?;
        Ok(seq.and_then(|seq| u64::try_from(seq).ok()))
    }

    /// Runs SQLite's own consistency check; `Ok(None)` means the file is sound.
    pub fn integrity_check(&self) -> Result<Option<String>, StoreError> {
        let connection = self.connection();
        let verdict: String = connection.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
        Ok((verdict != "ok").then_some(verdict))
    }
}

/// Sets how durable the next commit on `connection` must be.
fn set_durability(connection: &Connection, durability: Durability) -> rusqlite::Result<()> {
    let level = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    connection.pragma_update(None, "synchronous", level)
}

/// Appends one audit record inside `transaction`, which must hold the write lock, so the head
/// it links to cannot move before the commit.
fn append_audit_in(
    transaction: &rusqlite::Transaction<'_>,
    seal: impl FnOnce(u64, &Digest) -> SealedRecord,
) -> rusqlite::Result<SealedRecord> {
    let head: Option<(i64, String)> = transaction
        .prepare_cached("SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let (next_seq, previous) = match head {
        None => (0, Digest::ZERO),
        Some((seq, hash)) => {
            // A head whose hash is not valid hex was tampered with; the verifier reports it,
            // and linking to the digest of its text keeps the new record appendable.
            let previous = Digest::parse_hex(&hash).unwrap_or_else(|| Digest::of(hash.as_bytes()));
            (u64::try_from(seq).map_or(0, |seq| seq + 1), previous)
        }
    };
    let sealed = seal(next_seq, &previous);
    transaction
        .prepare_cached("INSERT INTO audit (seq, entry_hash, body) VALUES (?1, ?2, ?3)")?
        .execute(params![
            i64::try_from(sealed.seq).unwrap_or(i64::MAX),
            sealed.entry_hash.to_hex(),
            sealed.body
        ])?;
    Ok(sealed)
}

fn create_private_file(path: &Path) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::Create {
            path: path.to_owned(),
            source,
        })
}

fn tighten_permissions(path: &Path) {
    let Ok(metadata) = fs::metadata(path) else {
        return;
    };
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "state database was readable by others; setting mode 0600");
        if let Err(error) = fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), %error, "cannot set mode 0600 on the state database");
        }
    }
}

/// How many times a write waits for another process's lock before giving up (about 30 s).
const BUSY_RETRIES: i32 = 30_000;

/// SQLite's default busy handler sleeps up to 100 ms between attempts, so one process can
/// starve another under a steady stream of appends; short, constant waits keep it fair.
fn wait_for_lock(attempt: i32) -> bool {
    if attempt >= BUSY_RETRIES {
        return false;
    }
    std::thread::sleep(Duration::from_micros(if attempt < 10 { 50 } else { 1_000 }));
    true
}

fn configure(connection: &mut Connection, mode: OpenMode) -> rusqlite::Result<()> {
    connection.busy_handler(Some(wait_for_lock))?;
    // Reading the schema first turns "not a database" into an error here, at open.
    connection.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |row| {
        row.get::<_, i64>(0)
    })?;
    if mode != OpenMode::ReadOnly {
        let journal_mode: String =
            connection.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%journal_mode, "state database is not in WAL mode");
        }
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "trusted_schema", "OFF")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    Ok(())
}

/// The schema version, refused if it is newer than this binary understands.
fn check_version(connection: &Connection, path: &Path) -> Result<i64, StoreError> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > schema::CURRENT_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: schema::CURRENT_VERSION,
        });
    }
    Ok(version)
}

fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version = check_version(&transaction, path)?;
    let start = usize::try_from(version).unwrap_or(0);
    for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(start) {
        transaction.execute_batch(migration)?;
        transaction.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )?;
    }
    transaction.commit()?;
    Ok(())
}

/// Installs the authorizer that keeps this connection from undoing the append-only rules.
fn lock_down(connection: &mut Connection) -> rusqlite::Result<()> {
    connection.authorizer(Some(|context: AuthContext<'_>| authorize(&context.action)))
}

fn authorize(action: &AuthAction<'_>) -> Authorization {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "an allowlist: every action not named here, including ones SQLite adds later, is denied"
    )]
    match action {
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Transaction { .. }
        | AuthAction::Savepoint { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive => Authorization::Allow,
        AuthAction::Insert { table_name }
            if matches!(
                *table_name,
                "audit"
                    | "facts"
                    | "subjects"
                    | "predicates"
                    | "actors"
                    | "fact_seen"
                    | "approvals"
            ) =>
        {
            Authorization::Allow
        }
        // Only the one-way transitions of a fact version, the sighting cache and the record
        // clock may change; the triggers check that the transitions happen once.
        AuthAction::Update {
            table_name,
            column_name,
        } if (*table_name == "facts"
            && matches!(
                *column_name,
                "valid_to"
                    | "closed_at"
                    | "closed_by"
                    | "closed_reason"
                    | "superseded_at"
                    | "superseded_by"
                    | "superseded_reason"
            ))
            || (*table_name == "fact_seen"
                && matches!(*column_name, "last_seen" | "sightings"))
            || (*table_name == "tx_clock" && *column_name == "last_tx")
            || (*table_name == "approvals"
                && matches!(
                    *column_name,
                    "state"
                        | "approver"
                        | "decided_at"
                        | "signature"
                        | "deny_reason"
                        | "used_at"
                        | "used_session"
                )) =>
        {
            Authorization::Allow
        }
        AuthAction::Pragma { pragma_name, .. }
            if matches!(
                *pragma_name,
                "synchronous" | "user_version" | "quick_check" | "data_version"
            ) =>
        {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{AuditDecision, RecordDraft, seal};
    use crate::clock::Timestamp;

    fn temporary_database(name: &str) -> PathBuf {
        let directory =
            std::env::temp_dir().join(format!("praxis-store-{name}-{}", std::process::id()));
        drop(fs::remove_dir_all(&directory));
        fs::create_dir_all(&directory).unwrap();
        directory.join("praxis.db")
    }

    fn append(store: &Store, index: i64) -> SealedRecord {
        let draft = RecordDraft::new(
            Timestamp::from_unix_nanos(index),
            "s",
            "t",
            AuditDecision::Allowed,
        );
        store
            .append_audit(Durability::Normal, |seq, prev| seal(&draft, seq, prev))
            .unwrap()
    }

    #[test]
    fn the_database_is_created_owner_only_and_appends_link() {
        let path = temporary_database("create");
        let store = Store::open(&path, OpenMode::CreateIfMissing).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let first = append(&store, 1);
        let second = append(&store, 2);
        assert_eq!(first.seq, 0);
        assert_eq!(second.seq, 1);
        assert!(second.body.contains(&first.entry_hash.to_hex()));
        assert_eq!(store.audit_head_seq().unwrap(), Some(1));
    }

    #[test]
    fn the_own_connection_cannot_delete_update_or_drop() {
        let path = temporary_database("lockdown");
        let store = Store::open(&path, OpenMode::CreateIfMissing).unwrap();
        append(&store, 1);
        let connection = store.connection();
        for statement in [
            "DELETE FROM audit",
            "UPDATE audit SET body = 'x'",
            "DROP TRIGGER audit_no_delete",
            "DROP TABLE audit",
            "PRAGMA writable_schema = ON",
            "ATTACH DATABASE ':memory:' AS other",
        ] {
            assert!(
                connection.execute_batch(statement).is_err(),
                "{statement} must be refused"
            );
        }
        let count: i64 = connection
            .query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn a_missing_database_is_not_created_when_it_must_exist() {
        let path = temporary_database("missing");
        let error = Store::open(&path, OpenMode::MustExist).err().unwrap();
        assert!(error.to_string().contains("praxis init"));
        assert!(!path.exists());
    }
}
