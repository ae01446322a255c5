//! SQLite storage: one connection (WAL) behind a mutex. Callers run these
//! blocking methods on tokio's blocking pool. Every write is one immediate
//! transaction, and the uniqueness rules are checked inside it, so the
//! error can name the field (the unique indexes are the backstop).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::{Type, Value as SqlValue};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params, params_from_iter};

use crate::clock::now_rfc3339;
use crate::model::{Employee, EmployeeFilter, EmployeeInput, Page, Status, Team, TeamFilter, TeamInput, fold_case};

/// What storage operations fail with; see `ApiError`'s `From` for statuses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Duplicate { field: &'static str, message: String },
    /// A reference to an employee that does not exist or is deleted.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// Not a `#[source]`: the message already says it all, and a source
    /// would repeat it in `{:#}` chains.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS employees (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    emp_no      TEXT UNIQUE,
    mail        TEXT NOT NULL,
    mail_key    TEXT NOT NULL,
    first       TEXT NOT NULL,
    last        TEXT NOT NULL,
    display     TEXT,
    title       TEXT,
    dept        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('A', 'T')),
    manager_id  INTEGER REFERENCES employees(id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
);
-- mail is unique among live employees only: a deleted employee's mail can be reused.
CREATE UNIQUE INDEX IF NOT EXISTS employees_live_mail ON employees(mail_key) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS employees_manager ON employees(manager_id);

CREATE TABLE IF NOT EXISTS teams (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS team_members (
    team_id      INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    employee_id  INTEGER NOT NULL REFERENCES employees(id),
    PRIMARY KEY (team_id, employee_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS team_members_employee ON team_members(employee_id);
";

const EMPLOYEE_COLUMNS: &str =
    "id, emp_no, mail, first, last, display, title, dept, status, manager_id, created_at, updated_at, deleted_at";

/// The database. `AUTOINCREMENT` keeps ids from ever being reused, so an id
/// a connector stored keeps meaning the same record (teams are hard-deleted).
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Open (creating if need be) the database at `path` and its schema.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    /// The connection. A panic while it was held cannot have left a write
    /// half done (an open `Transaction` rolls back when dropped), so a
    /// poisoned lock is cleared rather than failing every later request.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| {
            tracing::warn!("store mutex was poisoned by a panic; recovering");
            self.conn.clear_poison();
            poisoned.into_inner()
        })
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    // ---- employees ----

    pub fn create_employee(&self, input: &EmployeeInput) -> Result<Employee> {
        self.write(|tx| {
            check_employee_unique(tx, input, None)?;
            check_manager(tx, input.manager_id, None)?;
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO employees (emp_no, mail, mail_key, first, last, display, title, dept, status,
                                        manager_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                params![
                    input.emp_no,
                    input.mail,
                    fold_case(&input.mail),
                    input.first,
                    input.last,
                    input.display,
                    input.title,
                    input.dept,
                    input.status.as_str(),
                    input.manager_id,
                    now
                ],
            )?;
            load_employee(tx, tx.last_insert_rowid(), false)
        })
    }

    /// A live employee, or with `include_deleted` a deleted one too (and
    /// then `deleted_at` is filled in).
    pub fn get_employee(&self, id: i64, include_deleted: bool) -> Result<Employee> {
        load_employee(&self.conn(), id, include_deleted)
    }

    /// Full replace of a live employee.
    pub fn replace_employee(&self, id: i64, input: &EmployeeInput) -> Result<Employee> {
        self.write(|tx| {
            load_employee(tx, id, false)?;
            check_employee_unique(tx, input, Some(id))?;
            check_manager(tx, input.manager_id, Some(id))?;
            tx.execute(
                "UPDATE employees SET emp_no = ?2, mail = ?3, mail_key = ?4, first = ?5, last = ?6, display = ?7,
                                      title = ?8, dept = ?9, status = ?10, manager_id = ?11, updated_at = ?12
                 WHERE id = ?1",
                params![
                    id,
                    input.emp_no,
                    input.mail,
                    fold_case(&input.mail),
                    input.first,
                    input.last,
                    input.display,
                    input.title,
                    input.dept,
                    input.status.as_str(),
                    input.manager_id,
                    now_rfc3339()
                ],
            )?;
            load_employee(tx, id, false)
        })
    }

    /// Soft delete: mark deleted and terminated, drop the employee from
    /// every team, and clear it as the manager of its live reports (so that
    /// a read-modify-PUT of a report does not fail on a dangling manager).
    pub fn delete_employee(&self, id: i64) -> Result<()> {
        self.write(|tx| {
            load_employee(tx, id, false)?;
            let now = now_rfc3339();
            tx.execute(
                "UPDATE employees SET deleted_at = ?2, status = 'T', updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            tx.execute(
                "UPDATE teams SET updated_at = ?2
                 WHERE id IN (SELECT team_id FROM team_members WHERE employee_id = ?1)",
                params![id, now],
            )?;
            tx.execute("DELETE FROM team_members WHERE employee_id = ?1", [id])?;
            tx.execute(
                "UPDATE employees SET manager_id = NULL, updated_at = ?2 WHERE manager_id = ?1 AND deleted_at IS NULL",
                params![id, now],
            )?;
            Ok(())
        })
    }

    /// One page of employees matching `filter`, by id, and the total count.
    pub fn list_employees(&self, filter: &EmployeeFilter, page: Page) -> Result<(Vec<Employee>, u64)> {
        let mut clauses = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        if !filter.include_deleted {
            clauses.push("deleted_at IS NULL".to_owned());
        }
        if let Some(mail) = &filter.mail {
            args.push(SqlValue::Text(fold_case(mail)));
            clauses.push(format!("mail_key = ?{}", args.len()));
        }
        if let Some(emp_no) = &filter.emp_no {
            args.push(SqlValue::Text(emp_no.clone()));
            clauses.push(format!("emp_no = ?{}", args.len()));
        }
        if let Some(status) = filter.status {
            args.push(SqlValue::Text(status.as_str().to_owned()));
            clauses.push(format!("status = ?{}", args.len()));
        }
        let filter_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };

        let conn = self.conn();
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM employees {filter_sql}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        args.push(SqlValue::Integer(i64::from(page.per_page)));
        args.push(SqlValue::Integer(page.offset()));
        let sql = format!(
            "SELECT {EMPLOYEE_COLUMNS} FROM employees {filter_sql} ORDER BY id LIMIT ?{} OFFSET ?{}",
            args.len() - 1,
            args.len()
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args.iter()), |r| employee_from_row(r, filter.include_deleted))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((rows, u64::try_from(total).unwrap_or(0)))
    }

    // ---- teams ----

    pub fn create_team(&self, input: &TeamInput) -> Result<Team> {
        self.write(|tx| {
            check_team_name(tx, &input.name, None)?;
            check_members(tx, &input.members, "members")?;
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO teams (name, name_key, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![input.name, fold_case(&input.name), now],
            )?;
            let id = tx.last_insert_rowid();
            insert_members(tx, id, &input.members)?;
            load_team(tx, id)
        })
    }

    pub fn get_team(&self, id: i64) -> Result<Team> {
        load_team(&self.conn(), id)
    }

    /// Full replace: name and the whole member list.
    pub fn replace_team(&self, id: i64, input: &TeamInput) -> Result<Team> {
        self.write(|tx| {
            load_team(tx, id)?;
            check_team_name(tx, &input.name, Some(id))?;
            check_members(tx, &input.members, "members")?;
            tx.execute(
                "UPDATE teams SET name = ?2, name_key = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, input.name, fold_case(&input.name), now_rfc3339()],
            )?;
            tx.execute("DELETE FROM team_members WHERE team_id = ?1", [id])?;
            insert_members(tx, id, &input.members)?;
            load_team(tx, id)
        })
    }

    /// Hard delete; memberships go with it (ON DELETE CASCADE).
    pub fn delete_team(&self, id: i64) -> Result<()> {
        self.write(|tx| match tx.execute("DELETE FROM teams WHERE id = ?1", [id])? {
            0 => Err(team_not_found(id)),
            _ => Ok(()),
        })
    }

    pub fn list_teams(&self, filter: &TeamFilter, page: Page) -> Result<(Vec<Team>, u64)> {
        let name_key = filter.name.as_deref().map(fold_case);
        let conn = self.conn();
        let total: i64 =
            conn.query_row("SELECT COUNT(*) FROM teams WHERE ?1 IS NULL OR name_key = ?1", params![name_key], |r| {
                r.get(0)
            })?;
        let ids = conn
            .prepare("SELECT id FROM teams WHERE ?1 IS NULL OR name_key = ?1 ORDER BY id LIMIT ?2 OFFSET ?3")?
            .query_map(params![name_key, page.per_page, page.offset()], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let teams = ids.into_iter().map(|id| load_team(&conn, id)).collect::<Result<Vec<_>>>()?;
        Ok((teams, u64::try_from(total).unwrap_or(0)))
    }

    /// Idempotent: adding a member twice is not an error.
    pub fn add_member(&self, team_id: i64, employee_id: i64) -> Result<()> {
        self.write(|tx| {
            load_team(tx, team_id)?;
            check_members(tx, &[employee_id], "employee_id")?;
            let added = tx.execute(
                "INSERT OR IGNORE INTO team_members (team_id, employee_id) VALUES (?1, ?2)",
                [team_id, employee_id],
            )?;
            if added > 0 {
                touch_team(tx, team_id)?;
            }
            Ok(())
        })
    }

    pub fn remove_member(&self, team_id: i64, employee_id: i64) -> Result<()> {
        self.write(|tx| {
            load_team(tx, team_id)?;
            let removed =
                tx.execute("DELETE FROM team_members WHERE team_id = ?1 AND employee_id = ?2", [team_id, employee_id])?;
            if removed == 0 {
                return Err(StoreError::NotFound(format!("employee {employee_id} is not a member of team {team_id}")));
            }
            touch_team(tx, team_id)
        })
    }
}

fn employee_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("employee {id} not found"))
}

fn team_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("team {id} not found"))
}

fn employee_from_row(row: &Row<'_>, with_deleted_at: bool) -> rusqlite::Result<Employee> {
    let status: String = row.get(8)?;
    let status = Status::parse(&status)
        .ok_or_else(|| rusqlite::Error::FromSqlConversionFailure(8, Type::Text, format!("status {status:?}").into()))?;
    Ok(Employee {
        id: row.get(0)?,
        emp_no: row.get(1)?,
        mail: row.get(2)?,
        first: row.get(3)?,
        last: row.get(4)?,
        display: row.get(5)?,
        title: row.get(6)?,
        dept: row.get(7)?,
        status,
        manager_id: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
        deleted_at: if with_deleted_at { Some(row.get(12)?) } else { None },
    })
}

fn load_employee(conn: &Connection, id: i64, include_deleted: bool) -> Result<Employee> {
    let employee = conn
        .prepare_cached(&format!("SELECT {EMPLOYEE_COLUMNS} FROM employees WHERE id = ?1"))?
        .query_row([id], |r| employee_from_row(r, true))
        .optional()?
        .ok_or_else(|| employee_not_found(id))?;
    match employee.deleted_at {
        Some(Some(_)) if !include_deleted => Err(employee_not_found(id)),
        _ if !include_deleted => Ok(Employee { deleted_at: None, ..employee }),
        _ => Ok(employee),
    }
}

/// `mail` (case-insensitively, live employees only) and `emp_no` (everyone,
/// deleted included) must not belong to another employee.
fn check_employee_unique(conn: &Connection, input: &EmployeeInput, this: Option<i64>) -> Result<()> {
    let this = this.unwrap_or(0);
    let mail_owner: Option<i64> = conn
        .prepare_cached("SELECT id FROM employees WHERE mail_key = ?1 AND deleted_at IS NULL AND id <> ?2")?
        .query_row(params![fold_case(&input.mail), this], |r| r.get(0))
        .optional()?;
    if let Some(owner) = mail_owner {
        return Err(StoreError::Duplicate {
            field: "mail",
            message: format!("mail {} is already used by employee {owner}", input.mail),
        });
    }
    if let Some(emp_no) = &input.emp_no {
        let owner: Option<(i64, bool)> = conn
            .prepare_cached("SELECT id, deleted_at IS NOT NULL FROM employees WHERE emp_no = ?1 AND id <> ?2")?
            .query_row(params![emp_no, this], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((owner, deleted)) = owner {
            let deleted = if deleted { " (deleted; emp_no values are never reused)" } else { "" };
            return Err(StoreError::Duplicate {
                field: "emp_no",
                message: format!("emp_no {emp_no} is already used by employee {owner}{deleted}"),
            });
        }
    }
    Ok(())
}

/// A manager must be another live employee.
fn check_manager(conn: &Connection, manager_id: Option<i64>, this: Option<i64>) -> Result<()> {
    let Some(manager_id) = manager_id else { return Ok(()) };
    if Some(manager_id) == this {
        return Err(StoreError::Invalid { field: "manager_id", message: "an employee cannot manage itself".into() });
    }
    if !is_live_employee(conn, manager_id)? {
        return Err(StoreError::Invalid {
            field: "manager_id",
            message: format!("manager {manager_id} does not exist or is deleted"),
        });
    }
    Ok(())
}

fn is_live_employee(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM employees WHERE id = ?1 AND deleted_at IS NULL")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Every id must be a live employee; `field` is what the error names.
fn check_members(conn: &Connection, ids: &[i64], field: &'static str) -> Result<()> {
    for &id in ids {
        if !is_live_employee(conn, id)? {
            return Err(StoreError::Invalid { field, message: format!("employee {id} does not exist or is deleted") });
        }
    }
    Ok(())
}

/// Team names are unique case-insensitively.
fn check_team_name(conn: &Connection, name: &str, this: Option<i64>) -> Result<()> {
    let owner: Option<i64> = conn
        .prepare_cached("SELECT id FROM teams WHERE name_key = ?1 AND id <> ?2")?
        .query_row(params![fold_case(name), this.unwrap_or(0)], |r| r.get(0))
        .optional()?;
    match owner {
        Some(owner) => Err(StoreError::Duplicate {
            field: "name",
            message: format!("team name {name} is already used by team {owner}"),
        }),
        None => Ok(()),
    }
}

fn insert_members(conn: &Connection, team_id: i64, members: &[i64]) -> Result<()> {
    let mut stmt = conn.prepare_cached("INSERT OR IGNORE INTO team_members (team_id, employee_id) VALUES (?1, ?2)")?;
    for &employee_id in members {
        stmt.execute([team_id, employee_id])?;
    }
    Ok(())
}

fn touch_team(conn: &Connection, team_id: i64) -> Result<()> {
    conn.execute("UPDATE teams SET updated_at = ?2 WHERE id = ?1", params![team_id, now_rfc3339()])?;
    Ok(())
}

fn load_team(conn: &Connection, id: i64) -> Result<Team> {
    let (name, created_at, updated_at) = conn
        .prepare_cached("SELECT name, created_at, updated_at FROM teams WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| team_not_found(id))?;
    let members = conn
        .prepare_cached("SELECT employee_id FROM team_members WHERE team_id = ?1 ORDER BY employee_id")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(Team { id, name, members, created_at, updated_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("open");
        (dir, store)
    }

    fn input(mail: &str, emp_no: Option<&str>) -> EmployeeInput {
        EmployeeInput {
            emp_no: emp_no.map(str::to_owned),
            mail: mail.into(),
            first: "Ann".into(),
            last: "Lee".into(),
            display: None,
            title: None,
            dept: None,
            status: Status::Active,
            manager_id: None,
        }
    }

    #[test]
    fn uniqueness_rules() {
        let (_dir, store) = store();
        let a = store.create_employee(&input("Ann@X.com", Some("E1"))).expect("create");
        let dup = store.create_employee(&input("ann@x.COM", None)).expect_err("mail taken");
        assert!(matches!(dup, StoreError::Duplicate { field: "mail", .. }));
        store.delete_employee(a.id).expect("delete");
        // The mail is free again, the emp_no is not.
        store.create_employee(&input("ann@x.com", None)).expect("mail reusable");
        let dup = store.create_employee(&input("b@x.com", Some("E1"))).expect_err("emp_no taken");
        assert!(matches!(dup, StoreError::Duplicate { field: "emp_no", .. }));
    }

    #[test]
    fn deleting_an_employee_cleans_up_references() {
        let (_dir, store) = store();
        let boss = store.create_employee(&input("boss@x.com", None)).expect("boss");
        let mut report = input("r@x.com", None);
        report.manager_id = Some(boss.id);
        let report = store.create_employee(&report).expect("report");
        let team = store.create_team(&TeamInput { name: "T".into(), members: vec![boss.id, report.id] }).expect("team");
        assert_eq!(team.members, vec![boss.id, report.id]);
        store.delete_employee(boss.id).expect("delete");
        assert_eq!(store.get_team(team.id).expect("team").members, vec![report.id]);
        assert_eq!(store.get_employee(report.id, false).expect("report").manager_id, None);
        assert!(matches!(store.get_employee(boss.id, false), Err(StoreError::NotFound(_))));
        let gone = store.get_employee(boss.id, true).expect("with deleted");
        assert_eq!(gone.status, Status::Terminated);
        assert!(matches!(gone.deleted_at, Some(Some(_))));
    }
}
