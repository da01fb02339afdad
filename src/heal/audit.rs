//! The healing audit log: one SQLite file (WAL) holding every decision, the idempotency keys of
//! alerts already acted on, and therefore the cooldowns, attempt counts and backoff, which are
//! computed from the recorded decisions rather than kept anywhere else, so they survive a restart
//! of hale and cannot disagree with the log.
//!
//! Durability: `synchronous=FULL`, so a decision is on disk when [`Audit::record`] returns; the
//! webhook answers 2xx only after that. A hale killed with SIGKILL, or a machine losing power,
//! loses no recorded decision, and the WAL makes the file readable again on the next open.
//!
//! Reads for people and scrapes (`/heal/events`, the landing page, the metrics) go through a
//! second, read-only connection: in WAL mode they never wait for a write nor make one wait, so
//! however many clients read, the webhook's writes keep their latency. The landing page's
//! last-day counts are kept in memory, in ten-minute buckets, so `/` costs the same at any
//! audit size.

use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags};

use super::decision::{AlertSource, Decision, Filter, Outcome};

/// A failure of the audit database.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The schema could not be brought to this hale's version (or the file is from a newer one).
    #[error("audit log {path}: schema: {source}")]
    Schema {
        path: String,
        #[source]
        source: rusqlite_migration::Error,
    },
    /// A blocking task holding an audit operation panicked or was cancelled: a bug.
    #[error("hale bug: an audit task failed: {0}")]
    Task(String),
}

/// The audit log.
pub struct Audit {
    path: String,
    /// The one writer; decisions and the policy's reads inside its transactions.
    conn: Mutex<Connection>,
    /// Reads that need not see a transaction in progress: events, pages, metrics.
    reader: Mutex<Connection>,
    recent: Mutex<Recent>,
}

/// The width of one bucket of [`Recent`], in seconds.
const BUCKET: f64 = 600.0;

/// How many decisions of each result were recorded, per ten-minute bucket, over the last day
/// and a bucket: what the landing page shows, without a query.
#[derive(Debug, Default)]
struct Recent {
    /// (bucket number, counts in [`Outcome::ALL`]'s order), oldest first.
    buckets: VecDeque<(i64, [u64; 9])>,
}

impl Recent {
    const KEPT: i64 = (86_400.0 / BUCKET) as i64 + 1;

    fn bucket(time: f64) -> i64 {
        (time / BUCKET).floor() as i64
    }

    fn add(&mut self, time: f64, outcome: Outcome, n: u64) {
        let b = Recent::bucket(time);
        let at = self.buckets.iter().rposition(|(k, _)| *k <= b);
        let bucket = match at.and_then(|at| self.buckets.get_mut(at)) {
            Some((k, counts)) if *k == b => counts,
            _ => {
                let at = at.map_or(0, |a| a + 1);
                self.buckets.insert(at, (b, [0; 9]));
                match self.buckets.get_mut(at) {
                    Some((_, counts)) => counts,
                    None => return,
                }
            }
        };
        if let Some(count) = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .and_then(|i| bucket.get_mut(i))
        {
            *count += n;
        }
        let newest = self.buckets.back().map_or(b, |(k, _)| *k);
        while self
            .buckets
            .front()
            .is_some_and(|(k, _)| *k <= newest - Recent::KEPT)
        {
            self.buckets.pop_front();
        }
    }

    /// The counts of the buckets from the one holding `since` on.
    fn since(&self, since: f64) -> [u64; 9] {
        let from = Recent::bucket(since);
        let mut out = [0; 9];
        for (_, counts) in self.buckets.iter().filter(|(k, _)| *k >= from) {
            for (o, c) in out.iter_mut().zip(counts) {
                *o += c;
            }
        }
        out
    }
}

/// The schema's versions, in `PRAGMA user_version`. Version 1 is the schema hale had before it
/// was versioned; its statements are idempotent, so a log made then (user_version 0) becomes
/// version 1 unchanged. A later change is a new `M::up` at the end, never an edit of one here.
fn migrations() -> rusqlite_migration::Migrations<'static> {
    rusqlite_migration::Migrations::new(vec![
        rusqlite_migration::M::up(SCHEMA_V1),
        rusqlite_migration::M::up(SCHEMA_V2),
    ])
}

/// Version 2: where each decision's alert came from (`webhook`, `pull`, `autoheal`) and, for a
/// pulled one, the Alertmanager peers that reported it. Older rows were the webhook's or
/// autoheal's, told apart by autoheal's reserved rule name.
const SCHEMA_V2: &str = "
ALTER TABLE decisions ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook'
    CHECK (source IN ('webhook','pull','autoheal'));
ALTER TABLE decisions ADD COLUMN peer TEXT NOT NULL DEFAULT '';
UPDATE decisions SET source = 'autoheal' WHERE rule = 'autoheal';
";

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS decisions (
    id          INTEGER PRIMARY KEY,
    time        REAL NOT NULL,
    rule        TEXT NOT NULL,
    alertname   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    target      TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('executed','succeeded','failed','dry_run',
                    'skipped_duplicate','skipped_cooldown','denied','gave_up','cancelled')),
    duration    REAL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS decisions_by_target ON decisions (rule, target, outcome, time);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (time);
CREATE TABLE IF NOT EXISTS idempotency (
    key  TEXT PRIMARY KEY,
    time REAL NOT NULL
) WITHOUT ROWID;
";

impl Audit {
    /// Opens (creating if needed) the log at `path`.
    pub fn open(path: &Path) -> Result<Audit, AuditError> {
        let name = path.display().to_string();
        let err = |source| AuditError::Sqlite {
            path: name.clone(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|source| AuditError::Schema {
                path: name.clone(),
                source,
            })?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        reader
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        let audit = Audit {
            path: name,
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            recent: Mutex::new(Recent::default()),
        };
        // One scan of the last day at start; from then on the counts follow the writes.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let rows: Vec<(f64, String, i64)> = audit.read(|tx| {
            let mut stmt = tx
                .conn
                .prepare(
                    "SELECT min(time), outcome, count(*) FROM decisions WHERE time >= ?1
                     GROUP BY CAST(time / ?2 AS INTEGER), outcome",
                )
                .map_err(|e| tx.err(e))?;
            let rows = stmt
                .query_map(params![now - 86_400.0 - BUCKET, BUCKET], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(|e| tx.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| tx.err(e))
        })?;
        {
            let mut recent = audit.recent();
            for (time, outcome, n) in rows {
                if let Some(o) = Outcome::parse(&outcome) {
                    recent.add(time, o, n.max(0) as u64);
                }
            }
        }
        Ok(audit)
    }

    fn recent(&self) -> parking_lot::MutexGuard<'_, Recent> {
        self.recent.lock()
    }

    /// Counts decisions `f` recorded, once they are committed.
    fn counted(&self, recorded: Vec<(f64, Outcome)>) {
        let mut recent = self.recent();
        for (time, outcome) in recorded {
            recent.add(time, outcome, 1);
        }
    }

    /// Runs `f` on the read-only connection: never in a write's way.
    fn read<T>(&self, f: impl FnOnce(&Tx) -> Result<T, AuditError>) -> Result<T, AuditError> {
        let conn = self.reader.lock();
        f(&Tx {
            conn: &conn,
            path: &self.path,
            recorded: RefCell::default(),
        })
    }

    fn conn(&self) -> parking_lot::MutexGuard<'_, Connection> {
        self.conn.lock()
    }

    /// Runs `f` on the log without a transaction of its own (each statement commits).
    pub fn with<T>(&self, f: impl FnOnce(&Tx) -> Result<T, AuditError>) -> Result<T, AuditError> {
        let conn = self.conn();
        let tx = Tx {
            conn: &conn,
            path: &self.path,
            recorded: RefCell::default(),
        };
        let out = f(&tx);
        // Each statement committed on its own, whatever `f` returned.
        self.counted(tx.recorded.take());
        out
    }

    /// Runs `f` in one write transaction, committed (and on disk) when `f` returns `Ok`, rolled
    /// back when it returns `Err`. Transactions are serialized, so a claim and the decisions
    /// that follow from it cannot interleave with another request's.
    pub fn transaction<T, E: From<AuditError>>(
        &self,
        f: impl FnOnce(&Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn();
        let err = |source| AuditError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let view = Tx {
            conn: &tx,
            path: &self.path,
            recorded: RefCell::default(),
        };
        let out = f(&view)?;
        let recorded = view.recorded.take();
        tx.commit().map_err(err)?;
        self.counted(recorded);
        Ok(out)
    }

    /// See [`Tx::record`].
    pub fn record(&self, d: &Decision) -> Result<i64, AuditError> {
        self.with(|tx| tx.record(d))
    }

    /// See [`Tx::attempts_since`].
    pub fn attempts_since(&self, rule: &str, target: &str, since: f64) -> Result<u64, AuditError> {
        self.with(|tx| tx.attempts_since(rule, target, since))
    }

    /// See [`Tx::events`]; on the read-only connection.
    pub fn events(&self, f: &Filter) -> Result<Vec<Decision>, AuditError> {
        self.read(|tx| tx.events(f))
    }

    /// Deletes decisions and idempotency keys older than `before`; returns the rows removed.
    pub fn prune(&self, before: f64) -> Result<usize, AuditError> {
        self.transaction(|tx| {
            let a = tx
                .conn
                .execute("DELETE FROM decisions WHERE time < ?1", params![before])
                .map_err(|e| tx.err(e))?;
            let b = tx
                .conn
                .execute("DELETE FROM idempotency WHERE time < ?1", params![before])
                .map_err(|e| tx.err(e))?;
            Ok(a + b)
        })
    }

    /// The last `succeeded` time of each rule, for `hale_heal_last_success_timestamp_seconds`
    /// to survive a restart.
    pub fn last_successes(&self) -> Result<Vec<(String, f64)>, AuditError> {
        self.pairs(
            "SELECT rule, max(time) FROM decisions WHERE outcome = 'succeeded' GROUP BY rule",
            [],
        )
    }

    /// How many decisions of each result were made since `since` (within the last day, to the
    /// ten minutes), in [`Outcome::ALL`]'s order; results with none are left out. From memory:
    /// it costs the same at any audit size.
    pub fn counts_since(&self, since: f64) -> Vec<(Outcome, u64)> {
        let counts = self.recent().since(since);
        Outcome::ALL
            .into_iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The (rule, target) pairs whose latest decision since `since` is `gave_up`: hale has
    /// stopped trying them until the budget window moves on. Both lookups stay inside the
    /// window (its index range), so a scrape's cost follows the window's decisions, not the
    /// whole retained log.
    pub fn given_up(&self, since: f64) -> Result<Vec<(String, String)>, AuditError> {
        // SQLite takes the bare `outcome` from the row holding max(id). The time index bounds
        // the scan to the window; without INDEXED BY the planner scans the whole target index
        // for the GROUP BY (10 ms a scrape with 200,000 decisions, instead of 0.3 ms).
        self.pairs(
            "SELECT rule, target FROM (
                 SELECT rule, target, outcome, max(id) FROM decisions INDEXED BY decisions_by_time
                 WHERE time >= ?1 AND outcome IN ('gave_up', 'executed')
                 GROUP BY rule, target)
             WHERE outcome = 'gave_up'",
            params![since],
        )
    }

    /// The two columns of every row `sql` returns, read on the read-only connection.
    fn pairs<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(A, B)>, AuditError> {
        self.read(|tx| {
            let mut stmt = tx.conn.prepare_cached(sql).map_err(|e| tx.err(e))?;
            let rows = stmt
                .query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| tx.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| tx.err(e))
        })
    }
}

/// The log inside [`Audit::with`] or [`Audit::transaction`].
pub struct Tx<'a> {
    conn: &'a Connection,
    path: &'a str,
    /// Decisions recorded through this view, counted in [`Recent`] once committed.
    recorded: RefCell<Vec<(f64, Outcome)>>,
}

impl Tx<'_> {
    fn err(&self, source: rusqlite::Error) -> AuditError {
        AuditError::Sqlite {
            path: self.path.to_string(),
            source,
        }
    }

    /// Claims an idempotency key: `true` the first time, `false` for every repeat (a retry, a
    /// re-notification, the other Alertmanager of an HA pair). A repeat refreshes the key's
    /// time, so an alert that keeps firing keeps its key past the retention.
    pub fn claim(&self, key: &str, now: f64) -> Result<bool, AuditError> {
        let n = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO idempotency (key, time) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![key, now]))
            .map_err(|e| self.err(e))?;
        if n == 0 {
            self.conn
                .prepare_cached("UPDATE idempotency SET time = ?2 WHERE key = ?1")
                .and_then(|mut s| s.execute(params![key, now]))
                .map_err(|e| self.err(e))?;
        }
        Ok(n == 1)
    }

    /// Appends a decision; outside a transaction it is on disk when this returns.
    pub fn record(&self, d: &Decision) -> Result<i64, AuditError> {
        self.conn
            .prepare_cached(
                "INSERT INTO decisions (time, rule, alertname, fingerprint, target, action, outcome, duration, detail, source, peer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    d.time,
                    d.rule,
                    d.alertname,
                    d.fingerprint,
                    d.target,
                    d.action,
                    d.outcome.as_str(),
                    d.duration,
                    d.detail,
                    d.source.as_str(),
                    d.peer
                ])
            })
            .map_err(|e| self.err(e))?;
        self.recorded.borrow_mut().push((d.time, d.outcome));
        Ok(self.conn.last_insert_rowid())
    }

    /// When the rule last acted (`executed`) on the target, for cooldowns.
    pub fn last_executed(&self, rule: &str, target: &str) -> Result<Option<f64>, AuditError> {
        self.conn
            .prepare_cached(
                "SELECT max(time) FROM decisions WHERE rule = ?1 AND target = ?2 AND outcome = 'executed'",
            )
            .and_then(|mut s| s.query_row(params![rule, target], |row| row.get::<_, Option<f64>>(0)))
            .map_err(|e| self.err(e))
    }

    /// How many times the rule acted on the target since `since`, for attempt budgets.
    pub fn attempts_since(&self, rule: &str, target: &str, since: f64) -> Result<u64, AuditError> {
        self.conn
            .prepare_cached(
                "SELECT count(*) FROM decisions WHERE rule = ?1 AND target = ?2 AND outcome = 'executed' AND time >= ?3",
            )
            .and_then(|mut s| s.query_row(params![rule, target, since], |row| row.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.err(e))
    }

    /// How many attempts of the rule on the target failed since its last success: the
    /// exponent of the backoff, kept in the log so it survives a restart of hale.
    pub fn failures_in_a_row(&self, rule: &str, target: &str) -> Result<u32, AuditError> {
        self.conn
            .prepare_cached(
                "SELECT count(*) FROM decisions WHERE rule = ?1 AND target = ?2 AND outcome = 'failed'
                   AND id > coalesce((SELECT max(id) FROM decisions
                                      WHERE rule = ?1 AND target = ?2 AND outcome = 'succeeded'), 0)",
            )
            .and_then(|mut s| s.query_row(params![rule, target], |row| row.get::<_, i64>(0)))
            .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
            .map_err(|e| self.err(e))
    }

    /// Decisions, newest first.
    pub fn events(&self, f: &Filter) -> Result<Vec<Decision>, AuditError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT time, rule, alertname, fingerprint, target, action, outcome, duration, detail,
                        source, peer
                 FROM decisions
                 WHERE (?1 IS NULL OR time >= ?1) AND (?2 IS NULL OR outcome = ?2)
                   AND (?3 IS NULL OR target = ?3) AND (?4 IS NULL OR rule = ?4)
                   AND (?6 IS NULL OR source = ?6)
                 ORDER BY id DESC LIMIT ?5",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![
                    f.since,
                    f.outcome.map(Outcome::as_str),
                    f.target,
                    f.rule,
                    f.limit.unwrap_or(100),
                    f.source.map(AlertSource::as_str)
                ],
                |row| {
                    let outcome: String = row.get(6)?;
                    let source: String = row.get(9)?;
                    Ok(Decision {
                        time: row.get(0)?,
                        rule: row.get(1)?,
                        alertname: row.get(2)?,
                        fingerprint: row.get(3)?,
                        target: row.get(4)?,
                        action: row.get(5)?,
                        // The CHECK constraint keeps unknown values out.
                        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
                        duration: row.get(7)?,
                        detail: row.get(8)?,
                        source: AlertSource::parse(&source).unwrap_or_default(),
                        peer: row.get(10)?,
                    })
                },
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

impl crate::heal::policy::State for Tx<'_> {
    fn claim(&self, key: &str, now: f64) -> Result<bool, AuditError> {
        Tx::claim(self, key, now)
    }
    fn last_executed(&self, rule: &str, target: &str) -> Result<Option<f64>, AuditError> {
        Tx::last_executed(self, rule, target)
    }
    fn attempts_since(&self, rule: &str, target: &str, since: f64) -> Result<u64, AuditError> {
        Tx::attempts_since(self, rule, target, since)
    }
    fn failures_in_a_row(&self, rule: &str, target: &str) -> Result<u32, AuditError> {
        Tx::failures_in_a_row(self, rule, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(time: f64, target: &str, outcome: Outcome) -> Decision {
        Decision {
            time,
            rule: "restart-unhealthy".into(),
            alertname: "ContainerUnhealthy".into(),
            fingerprint: "f1".into(),
            target: target.into(),
            action: "restart".into(),
            outcome,
            duration: None,
            detail: String::new(),
            source: Default::default(),
            peer: String::new(),
        }
    }

    #[test]
    fn the_migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    /// Issue 12.7: a log made before the schema had versions opens, keeps its rows, and is
    /// the latest version after (old rows get their source: autoheal's by its rule name, the
    /// rest the webhook's); one from a newer hale is refused with a clear error.
    #[test]
    fn a_log_from_before_versioning_opens_and_one_from_a_newer_hale_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA_V1).unwrap();
            old.execute(
                "INSERT INTO decisions (time, rule, alertname, fingerprint, target, action, outcome)
                 VALUES (1.0, 'r', 'A', 'f', 't', 'restart', 'executed')",
                [],
            )
            .unwrap();
            old.execute(
                "INSERT INTO decisions (time, rule, alertname, fingerprint, target, action, outcome)
                 VALUES (2.0, 'autoheal', 'HaleAutoheal', 'g', 't', 'restart', 'executed')",
                [],
            )
            .unwrap();
            old.execute(
                "INSERT INTO idempotency (key, time) VALUES ('r|f@1', 1.0)",
                [],
            )
            .unwrap();
        }
        let a = Audit::open(&path).unwrap();
        let events = a.events(&Filter::default()).unwrap();
        let sources: Vec<_> = events.iter().map(|d| (d.rule.as_str(), d.source)).collect();
        assert_eq!(
            sources,
            [
                ("autoheal", AlertSource::Autoheal),
                ("r", AlertSource::Webhook)
            ]
        );
        assert!(
            !a.with(|tx| tx.claim("r|f@1", 2.0)).unwrap(),
            "its keys are kept"
        );
        let version: i64 = a
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        drop(a);

        let newer = dir.path().join("newer.db");
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Audit::open(&newer)
            .err()
            .expect("a log from a newer hale is refused");
        assert!(matches!(err, AuditError::Schema { .. }), "{err}");
    }

    /// Issue 13.10: the landing page's counts came from a scan of the last day on the writer's
    /// connection, so four clients on `/` pushed webhook latency from 1 ms to 0.6 s.
    #[test]
    fn reads_and_writes_never_wait_for_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let a = std::sync::Arc::new(Audit::open(&dir.path().join("audit.db")).unwrap());
        a.record(&decision(100.0, "web-1", Outcome::Executed))
            .unwrap();
        // A reader in the middle of a long read: a write still goes through.
        let reading = a.reader.lock();
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = std::sync::Arc::clone(&a);
        std::thread::spawn(move || {
            let r = writer.record(&decision(101.0, "web-1", Outcome::Succeeded));
            let _ = tx.send(r.is_ok());
        });
        // The timeout only guards against a hang.
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(60)),
            Ok(true)
        );
        drop(reading);
        // A write transaction in progress: reads still answer, without its uncommitted row.
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let writer = std::sync::Arc::clone(&a);
        let handle = std::thread::spawn(move || {
            writer.transaction(|tx| {
                tx.record(&decision(102.0, "web-2", Outcome::Executed))?;
                let _ = started_tx.send(());
                let _ = held_rx.recv();
                Ok::<_, AuditError>(())
            })
        });
        started_rx.recv().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::sync::Arc::clone(&a);
        std::thread::spawn(move || {
            let events = reader.events(&Filter::default()).map(|e| e.len());
            let given_up = reader.given_up(0.0).map(|g| g.len());
            let _ = tx.send((events.ok(), given_up.ok(), reader.counts_since(0.0)));
        });
        let (events, given_up, counts) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("reads answer while a write transaction is open");
        assert_eq!(events, Some(2));
        assert_eq!(given_up, Some(0));
        assert_eq!(
            counts,
            vec![(Outcome::Executed, 1), (Outcome::Succeeded, 1)],
            "an uncommitted decision is not counted"
        );
        held_tx.send(()).unwrap();
        handle.join().unwrap().unwrap();
        assert_eq!(a.counts_since(0.0)[0], (Outcome::Executed, 2));
    }

    #[test]
    fn the_last_days_counts_follow_commits_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        {
            let a = Audit::open(&path).unwrap();
            // Two days ago: kept in the log, not in the last day's counts.
            a.record(&decision(now - 2.0 * 86_400.0, "web-1", Outcome::Failed))
                .unwrap();
            for i in 0..30 {
                a.record(&decision(
                    now - f64::from(i) * 3000.0,
                    "web-1",
                    Outcome::Denied,
                ))
                .unwrap();
            }
            let rolled_back = a.transaction(|tx| {
                tx.record(&decision(now, "web-1", Outcome::Executed))?;
                Err::<(), _>(AuditError::Task("the test rolls back".into()))
            });
            assert!(rolled_back.is_err());
            // 30 decisions 50 minutes apart: 29 within the last day.
            assert_eq!(a.counts_since(now - 86_400.0), vec![(Outcome::Denied, 29)]);
        }
        let a = Audit::open(&path).unwrap();
        assert_eq!(
            a.counts_since(now - 86_400.0),
            vec![(Outcome::Denied, 29)],
            "rebuilt from the log on open"
        );
        assert_eq!(a.counts_since(now - 3600.0), vec![(Outcome::Denied, 2)]);
    }

    #[test]
    fn idempotency_cooldown_and_budget_state_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        {
            let a = Audit::open(&path).unwrap();
            assert!(a.with(|tx| tx.claim("f1@t1", 100.0)).unwrap());
            assert!(
                !a.with(|tx| tx.claim("f1@t1", 101.0)).unwrap(),
                "a repeat is not new"
            );
            a.record(&decision(100.0, "web-1", Outcome::Executed))
                .unwrap();
            a.record(&decision(100.5, "web-1", Outcome::Succeeded))
                .unwrap();
            a.record(&decision(200.0, "web-1", Outcome::Executed))
                .unwrap();
            a.record(&decision(250.0, "web-2", Outcome::Denied))
                .unwrap();
        }
        let a = Audit::open(&path).unwrap();
        assert!(
            !a.with(|tx| tx.claim("f1@t1", 300.0)).unwrap(),
            "keys survive a restart"
        );
        assert!(
            a.with(|tx| tx.claim("f1@t2", 300.0)).unwrap(),
            "a new firing is new"
        );
        assert_eq!(
            a.with(|tx| tx.last_executed("restart-unhealthy", "web-1"))
                .unwrap(),
            Some(200.0)
        );
        assert_eq!(
            a.with(|tx| tx.last_executed("restart-unhealthy", "web-2"))
                .unwrap(),
            None
        );
        assert_eq!(
            a.attempts_since("restart-unhealthy", "web-1", 150.0)
                .unwrap(),
            1
        );
        assert_eq!(
            a.attempts_since("restart-unhealthy", "web-1", 0.0).unwrap(),
            2
        );

        let all = a.events(&Filter::default()).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].outcome, Outcome::Denied, "newest first");
        let denied = a
            .events(&Filter {
                outcome: Some(Outcome::Denied),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(denied.len(), 1);
        let web1_since = a
            .events(&Filter {
                target: Some("web-1".into()),
                since: Some(100.5),
                limit: Some(1),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(web1_since.len(), 1);
        assert_eq!(web1_since[0].time, 200.0);

        // Two decisions go; the key f1@t1 stays, as its repeat at 300 refreshed it.
        assert_eq!(a.prune(150.0).unwrap(), 2);
        assert!(
            !a.with(|tx| tx.claim("f1@t1", 301.0)).unwrap(),
            "a refreshed key survives pruning"
        );
        assert_eq!(
            a.prune(1000.0).unwrap(),
            2 + 2,
            "the rest: two decisions, two keys"
        );
        assert!(
            a.with(|tx| tx.claim("f1@t1", 1001.0)).unwrap(),
            "a pruned key is new again"
        );
        assert!(a.events(&Filter::default()).unwrap().is_empty());
    }

    #[test]
    fn given_up_is_the_latest_word_inside_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::open(&dir.path().join("audit.db")).unwrap();
        for d in [
            // web-1: spent its budget, still given up.
            decision(100.0, "web-1", Outcome::Executed),
            decision(110.0, "web-1", Outcome::GaveUp),
            decision(115.0, "web-1", Outcome::SkippedDuplicate),
            // web-2: gave up, then the window moved and it acted again.
            decision(101.0, "web-2", Outcome::GaveUp),
            decision(120.0, "web-2", Outcome::Executed),
            // web-3: gave up before the window.
            decision(10.0, "web-3", Outcome::GaveUp),
        ] {
            audit.record(&d).unwrap();
        }
        assert_eq!(
            audit.given_up(50.0).unwrap(),
            [("restart-unhealthy".to_string(), "web-1".to_string())]
        );
        assert!(audit.given_up(200.0).unwrap().is_empty());
    }

    #[test]
    fn event_queries_are_parsed_strictly() {
        let f = Filter::from_query(
            "limit=5&since=2026-11-23T04%3A00%3A00Z&result=gave_up&target=web-1&rule=r",
        )
        .unwrap();
        assert_eq!(f.limit, Some(5));
        assert_eq!(f.since, Some(1_795_406_400.0));
        assert_eq!(f.outcome, Some(Outcome::GaveUp));
        assert_eq!(f.target.as_deref(), Some("web-1"));
        assert_eq!(
            Filter::from_query("since=1700000000.5").unwrap().since,
            Some(1_700_000_000.5)
        );
        for (bad, why) in [
            ("limit=0", "limit"),
            ("limit=abc", "limit"),
            ("since=yesterday", "since"),
            ("result=exploded", "use one of"),
            ("colour=red", "unknown parameter"),
        ] {
            let err = Filter::from_query(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_bad_path_is_a_clear_error() {
        let err = Audit::open(Path::new("/nonexistent/dir/audit.db"))
            .err()
            .expect("cannot open");
        assert!(
            err.to_string().contains("/nonexistent/dir/audit.db"),
            "{err}"
        );
    }

    #[test]
    fn every_recorded_decision_survives_sigkill() {
        // This test runs itself again as the writer: a child process that records decisions
        // until it is SIGKILLed mid-burst. Every id it reported as recorded must be in the file
        // afterwards, and the file must open cleanly.
        if let Some(path) = std::env::var_os("HALE_AUDIT_CHILD") {
            let a = Audit::open(Path::new(&path)).unwrap();
            for i in 0.. {
                let id = a
                    .record(&decision(f64::from(i), "web-1", Outcome::Executed))
                    .unwrap();
                println!("recorded {id}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let exe = std::env::current_exe().unwrap();
        let mut child = std::process::Command::new(exe)
            .args([
                "--exact",
                "heal::audit::tests::every_recorded_decision_survives_sigkill",
                "--nocapture",
            ])
            .env("HALE_AUDIT_CHILD", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reported = Vec::new();
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(id) = line.strip_prefix("recorded ") {
                reported.push(id.parse::<i64>().unwrap());
                if reported.len() == 200 {
                    child.kill().unwrap();
                    break;
                }
            }
        }
        let _ = child.wait();
        assert_eq!(reported.len(), 200, "the child wrote decisions");
        let a = Audit::open(&path).unwrap();
        let stored = a
            .events(&Filter {
                limit: Some(100_000),
                ..Filter::default()
            })
            .unwrap();
        assert!(
            stored.len() >= reported.len(),
            "{} < {}",
            stored.len(),
            reported.len()
        );
        for id in &reported {
            let found: i64 = a
                .conn()
                .query_row("SELECT count(*) FROM decisions WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(found, 1, "decision {id} was reported recorded but is gone");
        }
        let integrity: String = a
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}
