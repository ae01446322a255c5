//! The embedded target and the links to it.
//!
//! A tenant with a pipeline keeps two representations of each resource: the
//! shadow (`resources`, what the IdP wrote and reads back) and, while the
//! resource is in scope, a target account (`target_accounts`, what the
//! pipeline's `transform-in` made of it). `links` ties the SCIM id to the
//! account. Every change here runs inside the same savepoint as the shadow
//! write it belongs to, so the two never disagree after a crash.

use pipeline::MatchKey;
use scim::ScimError;
use serde::Deserialize;
use serde_json::Value;

use super::sql::{Db, Dialect, args};
use super::{ResourceKind, Result, now_rfc3339};

/// What happens to the target account of a resource that leaves scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitPolicy {
    /// Keep the account, inactive and linked; re-entering scope reactivates it.
    #[default]
    Deactivate,
    /// Delete the account.
    Delete,
}

/// What an IdP `DELETE` does to the target account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeletePolicy {
    /// Delete the account.
    #[default]
    Delete,
    /// Keep the account, inactive and unlinked, so that a later create with
    /// the same match keys links to it again.
    Deactivate,
}

/// What a create does when a match key finds an existing, unlinked account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchPolicy {
    /// Link the new SCIM id to the account and update it.
    #[default]
    Link,
    /// Refuse the create with `409 uniqueness`.
    Conflict,
}

impl MatchPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Link => "link",
            MatchPolicy::Conflict => "conflict",
        }
    }
}

/// The target side of one shadow write.
#[derive(Debug, Clone)]
pub enum TargetChange {
    /// The tenant has no pipeline: the shadow is all there is.
    None,
    /// In scope: the account must hold `doc`. `keys` find an existing account
    /// when the resource has none yet, and are kept for later matches.
    Upsert { doc: Value, keys: Vec<MatchKey>, on_match: MatchPolicy },
    /// Out of scope.
    Out { on_exit: ExitPolicy },
    /// The account lives upstream and the service has just written it there:
    /// record the upstream's id and document (a mirror for reads and
    /// lists) and link. `linked_by`: the create matched an existing
    /// upstream account by this attribute instead of creating one.
    Mirror { target_id: String, doc: Value, keys: Vec<MatchKey>, linked_by: Option<String> },
}

impl TargetChange {
    /// The upstream account this change records as newly created (not
    /// linked): what a failed commit must take back.
    pub fn created_account(&self) -> Option<&str> {
        match self {
            TargetChange::Mirror { target_id, linked_by: None, .. } => Some(target_id),
            _ => None,
        }
    }
}

/// What the target side of a write did, for the provisioning log and the
/// lifecycle events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOutcome {
    /// No pipeline, or a delete of a resource that had no account.
    Unchanged,
    /// Out of scope; no account was written.
    OutOfScope,
    Created {
        target_id: String,
    },
    /// An existing account matched `attribute` and was linked.
    Linked {
        target_id: String,
        attribute: String,
    },
    Updated {
        target_id: String,
    },
    /// The account went from inactive to active.
    Reactivated {
        target_id: String,
    },
    /// The account was deactivated: by the document, by leaving scope (then
    /// `left_scope`) or by an IdP delete under the keep policy.
    Deactivated {
        target_id: String,
        left_scope: bool,
    },
    Deleted {
        target_id: String,
    },
}

impl TargetOutcome {
    /// The provisioning log's `outcome` for a successful write, when it says
    /// more than `ok`.
    pub fn log_outcome(&self) -> Option<&'static str> {
        match self {
            TargetOutcome::OutOfScope => Some("out_of_scope"),
            TargetOutcome::Linked { .. } => Some("linked"),
            TargetOutcome::Deactivated { left_scope: true, .. } => Some("left_scope"),
            _ => None,
        }
    }

    /// What happened to the account, for the provisioning log's trace.
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetOutcome::Unchanged => "unchanged",
            TargetOutcome::OutOfScope => "out_of_scope",
            TargetOutcome::Created { .. } => "created",
            TargetOutcome::Linked { .. } => "linked",
            TargetOutcome::Updated { .. } => "updated",
            TargetOutcome::Reactivated { .. } => "reactivated",
            TargetOutcome::Deactivated { left_scope: true, .. } => "left_scope",
            TargetOutcome::Deactivated { .. } => "deactivated",
            TargetOutcome::Deleted { .. } => "deleted",
        }
    }

    pub fn target_id(&self) -> Option<&str> {
        match self {
            TargetOutcome::Unchanged | TargetOutcome::OutOfScope => None,
            TargetOutcome::Created { target_id }
            | TargetOutcome::Linked { target_id, .. }
            | TargetOutcome::Updated { target_id }
            | TargetOutcome::Reactivated { target_id }
            | TargetOutcome::Deactivated { target_id, .. }
            | TargetOutcome::Deleted { target_id } => Some(target_id),
        }
    }
}

/// An account of the embedded target, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TargetAccount {
    pub target_id: String,
    pub active: bool,
    pub doc: Value,
    /// The SCIM id of the resource it serves, if any.
    pub linked_to: Option<String>,
}

/// A resource's account as loaded with the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetView {
    pub target_id: String,
    pub in_scope: bool,
    pub active: bool,
    pub doc: Value,
}

/// The SQL expression (over `resources r`) that loads a resource's account
/// as `[target_id, in_scope, active]` followed by its document, or NULL.
pub(super) fn target_column(dialect: Dialect) -> &'static str {
    // The mirror document follows the array as stored, not nested in it:
    // nesting made the database parse and re-render the whole document on
    // every read (SQLite's `json()` was a tenth of a proxied GET's CPU).
    match dialect {
        Dialect::Sqlite => {
            "(SELECT json_array(t.target_id, l.in_scope, t.active) || t.doc
              FROM links l JOIN target_accounts t ON t.tenant = l.tenant AND t.kind = l.kind AND t.target_id = l.target_id
              WHERE l.resource_seq = r.seq)"
        }
        Dialect::Postgres => {
            "(SELECT json_build_array(t.target_id, l.in_scope, t.active)::text || t.doc
              FROM links l JOIN target_accounts t ON t.tenant = l.tenant AND t.kind = l.kind AND t.target_id = l.target_id
              WHERE l.resource_seq = r.seq)"
        }
    }
}

/// Decode [`target_column`]: `[target_id, in_scope, active]` then the
/// mirror document.
pub(super) fn parse_target(owner: &str, text: Option<&str>) -> Result<Option<TargetView>> {
    let Some(text) = text else { return Ok(None) };
    let corrupt = |e: serde_json::Error| super::StoreError::Corrupt(format!("target account of {owner}: {e}"));
    let mut de = serde_json::Deserializer::from_str(text);
    let (target_id, in_scope, active) = <(String, i64, i64)>::deserialize(&mut de).map_err(corrupt)?;
    let doc = Value::deserialize(&mut de).map_err(corrupt)?;
    de.end().map_err(corrupt)?;
    Ok(Some(TargetView { target_id, in_scope: in_scope != 0, active: active != 0, doc }))
}

struct Link {
    target_id: String,
    in_scope: bool,
    active: bool,
}

fn link_of(c: &dyn Db, seq: i64) -> Result<Option<Link>> {
    let row = c.query_opt(
        "SELECT l.target_id, l.in_scope, t.active FROM links l
         JOIN target_accounts t ON t.tenant = l.tenant AND t.kind = l.kind AND t.target_id = l.target_id
         WHERE l.resource_seq = ?1",
        args![seq],
    )?;
    row.map(|r| Ok(Link { target_id: r.text(0)?, in_scope: r.bool(1)?, active: r.bool(2)? })).transpose()
}

/// Whether a target document says the account is active (`active` absent:
/// yes; `false` or `"False"`: no).
fn doc_active(doc: &Value) -> bool {
    match doc.get("active") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    }
}

/// Apply `change` to the target side of the shadow resource `seq`, in the
/// caller's transaction.
pub(super) fn apply(
    c: &dyn Db,
    tenant: &str,
    kind: ResourceKind,
    seq: i64,
    change: TargetChange,
) -> Result<TargetOutcome> {
    if matches!(change, TargetChange::None) {
        // No pipeline: nothing to look up.
        return Ok(TargetOutcome::Unchanged);
    }
    let link = link_of(c, seq)?;
    match (change, link) {
        (TargetChange::None, _) => Ok(TargetOutcome::Unchanged),
        (TargetChange::Upsert { doc, keys, .. }, Some(link)) => {
            let active = doc_active(&doc);
            write_account(c, tenant, kind, &link.target_id, &doc, active)?;
            write_keys(c, tenant, kind, &link.target_id, &keys)?;
            if !link.in_scope {
                c.execute("UPDATE links SET in_scope = 1 WHERE resource_seq = ?1", args![seq])?;
            }
            let target_id = link.target_id;
            Ok(match (link.active, active) {
                (false, true) => TargetOutcome::Reactivated { target_id },
                (true, false) => TargetOutcome::Deactivated { target_id, left_scope: false },
                _ => TargetOutcome::Updated { target_id },
            })
        }
        (TargetChange::Upsert { doc, keys, on_match }, None) => {
            let active = doc_active(&doc);
            if let Some((target_id, attribute)) = find_unlinked(c, tenant, kind, &keys)? {
                if on_match == MatchPolicy::Conflict {
                    return Err(ScimError::uniqueness(format!(
                        "an existing target account matches {attribute}; this tenant does not link accounts"
                    ))
                    .into());
                }
                write_account(c, tenant, kind, &target_id, &doc, active)?;
                write_keys(c, tenant, kind, &target_id, &keys)?;
                insert_link(c, tenant, kind, seq, &target_id)?;
                return Ok(TargetOutcome::Linked { target_id, attribute });
            }
            // Time-ordered, like resource ids: index inserts append.
            let target_id = uuid::Uuid::now_v7().to_string();
            let now = now_rfc3339();
            c.execute(
                "INSERT INTO target_accounts (tenant, kind, target_id, active, created, last_modified, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                args![tenant, kind.as_str(), target_id.as_str(), active, now.as_str(), doc.to_string().as_str()],
            )?;
            write_keys(c, tenant, kind, &target_id, &keys)?;
            insert_link(c, tenant, kind, seq, &target_id)?;
            Ok(TargetOutcome::Created { target_id })
        }
        (TargetChange::Mirror { target_id, doc, keys, .. }, Some(link)) if link.target_id == target_id => {
            let active = doc_active(&doc);
            upsert_account(c, tenant, kind, &target_id, &doc, active)?;
            write_keys(c, tenant, kind, &target_id, &keys)?;
            if !link.in_scope {
                c.execute("UPDATE links SET in_scope = 1 WHERE resource_seq = ?1", args![seq])?;
            }
            Ok(match (link.active, active) {
                (false, true) => TargetOutcome::Reactivated { target_id },
                (true, false) => TargetOutcome::Deactivated { target_id, left_scope: false },
                _ => TargetOutcome::Updated { target_id },
            })
        }
        (TargetChange::Mirror { target_id, doc, keys, linked_by }, old) => {
            // A different account than the linked one: the upstream lost
            // the old account and a new one was created in its place.
            if let Some(old) = old {
                delete_account(c, tenant, kind, &old.target_id)?;
            }
            let taken = c
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM links WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3)",
                    args![tenant, kind.as_str(), target_id.as_str()],
                )?
                .bool(0)?;
            if taken {
                return Err(ScimError::uniqueness(format!(
                    "upstream account {target_id} already serves another resource"
                ))
                .into());
            }
            upsert_account(c, tenant, kind, &target_id, &doc, doc_active(&doc))?;
            write_keys(c, tenant, kind, &target_id, &keys)?;
            insert_link(c, tenant, kind, seq, &target_id)?;
            Ok(match linked_by {
                Some(attribute) => TargetOutcome::Linked { target_id, attribute },
                None => TargetOutcome::Created { target_id },
            })
        }
        (TargetChange::Out { .. }, None) => Ok(TargetOutcome::OutOfScope),
        (TargetChange::Out { .. }, Some(link)) if !link.in_scope => Ok(TargetOutcome::OutOfScope),
        (TargetChange::Out { on_exit: ExitPolicy::Deactivate }, Some(link)) => {
            deactivate(c, tenant, kind, &link.target_id)?;
            c.execute("UPDATE links SET in_scope = 0 WHERE resource_seq = ?1", args![seq])?;
            Ok(TargetOutcome::Deactivated { target_id: link.target_id, left_scope: true })
        }
        (TargetChange::Out { on_exit: ExitPolicy::Delete }, Some(link)) => {
            delete_account(c, tenant, kind, &link.target_id)?;
            Ok(TargetOutcome::Deleted { target_id: link.target_id })
        }
    }
}

/// The target side of deleting the shadow resource `seq` (call before the
/// shadow row goes; its link goes with it).
pub(super) fn on_delete(
    c: &dyn Db,
    tenant: &str,
    kind: ResourceKind,
    seq: i64,
    policy: DeletePolicy,
) -> Result<TargetOutcome> {
    let Some(link) = link_of(c, seq)? else { return Ok(TargetOutcome::Unchanged) };
    match policy {
        DeletePolicy::Delete => {
            delete_account(c, tenant, kind, &link.target_id)?;
            Ok(TargetOutcome::Deleted { target_id: link.target_id })
        }
        DeletePolicy::Deactivate => {
            deactivate(c, tenant, kind, &link.target_id)?;
            Ok(TargetOutcome::Deactivated { target_id: link.target_id, left_scope: false })
        }
    }
}

/// The oldest account a key names, and whether a resource is linked to it.
/// (PostgreSQL has no rowid; its `target_keys` has a `seq` for the order.)
const FIND_UNLINKED_SQLITE: &str = "SELECT k.target_id, EXISTS (SELECT 1 FROM links l WHERE l.tenant = k.tenant
                                    AND l.kind = k.kind AND l.target_id = k.target_id)
     FROM target_keys k WHERE k.tenant = ?1 AND k.kind = ?2 AND k.attribute = ?3 AND k.value_key = ?4
     ORDER BY k.rowid LIMIT 1";
const FIND_UNLINKED_POSTGRES: &str = "SELECT k.target_id, EXISTS (SELECT 1 FROM links l WHERE l.tenant = k.tenant
                                    AND l.kind = k.kind AND l.target_id = k.target_id)
     FROM target_keys k WHERE k.tenant = ?1 AND k.kind = ?2 AND k.attribute = ?3 AND k.value_key = ?4
     ORDER BY k.seq LIMIT 1";

/// The first key, in order, that names an account no resource is linked to.
/// A key that names an account linked to another resource is a conflict:
/// one account never serves two SCIM resources.
fn find_unlinked(c: &dyn Db, tenant: &str, kind: ResourceKind, keys: &[MatchKey]) -> Result<Option<(String, String)>> {
    let sql = match c.dialect() {
        Dialect::Sqlite => FIND_UNLINKED_SQLITE,
        Dialect::Postgres => FIND_UNLINKED_POSTGRES,
    };
    for key in keys {
        let hit = c
            .query_opt(sql, args![tenant, kind.as_str(), key.attribute.as_str(), key.value.to_lowercase().as_str()])?
            .map(|r| Ok::<_, super::StoreError>((r.text(0)?, r.bool(1)?)))
            .transpose()?;
        match hit {
            Some((target_id, false)) => return Ok(Some((target_id, key.attribute.clone()))),
            Some((_, true)) => {
                return Err(ScimError::uniqueness(format!(
                    "another resource's target account already has {} '{}'",
                    key.attribute, key.value
                ))
                .into());
            }
            None => {}
        }
    }
    Ok(None)
}

/// Read-only matching for a dry run: the account the keys would link to.
pub(super) fn find_match(
    c: &dyn Db,
    tenant: &str,
    kind: ResourceKind,
    keys: &[MatchKey],
) -> Result<std::result::Result<Option<(String, String)>, ScimError>> {
    match find_unlinked(c, tenant, kind, keys) {
        Ok(hit) => Ok(Ok(hit)),
        Err(super::StoreError::Scim(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

fn write_account(c: &dyn Db, tenant: &str, kind: ResourceKind, id: &str, doc: &Value, active: bool) -> Result<()> {
    c.execute(
        "UPDATE target_accounts SET doc = ?4, active = ?5, last_modified = ?6
         WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3",
        args![tenant, kind.as_str(), id, doc.to_string().as_str(), active, now_rfc3339().as_str()],
    )?;
    Ok(())
}

/// Write an upstream account's mirror, whether or not one was kept before.
fn upsert_account(c: &dyn Db, tenant: &str, kind: ResourceKind, id: &str, doc: &Value, active: bool) -> Result<()> {
    let now = now_rfc3339();
    c.execute(
        "INSERT INTO target_accounts (tenant, kind, target_id, active, created, last_modified, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
         ON CONFLICT (tenant, kind, target_id) DO UPDATE SET active = ?4, last_modified = ?5, doc = ?6",
        args![tenant, kind.as_str(), id, active, now.as_str(), doc.to_string().as_str()],
    )?;
    Ok(())
}

/// The SCIM id of the resource an account serves, if any.
pub(super) fn link_owner(c: &dyn Db, tenant: &str, kind: ResourceKind, target_id: &str) -> Result<Option<String>> {
    c.query_opt(
        "SELECT r.id FROM links l JOIN resources r ON r.seq = l.resource_seq
         WHERE l.tenant = ?1 AND l.kind = ?2 AND l.target_id = ?3",
        args![tenant, kind.as_str(), target_id],
    )?
    .map(|r| r.text(0))
    .transpose()
}

/// The accounts of the resources `ids` (in scope only), by SCIM id.
pub(super) fn linked_accounts(
    c: &dyn Db,
    tenant: &str,
    kind: ResourceKind,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    for id in ids {
        if let Some(row) = c.query_opt(
            "SELECT l.target_id FROM resources r JOIN links l ON l.resource_seq = r.seq
             WHERE r.tenant = ?1 AND r.kind = ?2 AND r.id = ?3 AND l.in_scope = 1",
            args![tenant, kind.as_str(), id],
        )? {
            out.insert(id.clone(), row.text(0)?);
        }
    }
    Ok(out)
}

fn write_keys(c: &dyn Db, tenant: &str, kind: ResourceKind, id: &str, keys: &[MatchKey]) -> Result<()> {
    c.execute(
        "DELETE FROM target_keys WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3",
        args![tenant, kind.as_str(), id],
    )?;
    for key in keys.iter().filter(|k| !k.value.is_empty()) {
        c.execute(
            "INSERT INTO target_keys (tenant, kind, attribute, value_key, target_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            args![tenant, kind.as_str(), key.attribute.as_str(), key.value.to_lowercase().as_str(), id],
        )?;
    }
    Ok(())
}

fn insert_link(c: &dyn Db, tenant: &str, kind: ResourceKind, seq: i64, target_id: &str) -> Result<()> {
    c.execute(
        "INSERT INTO links (resource_seq, tenant, kind, target_id, in_scope) VALUES (?1, ?2, ?3, ?4, 1)",
        args![seq, tenant, kind.as_str(), target_id],
    )?;
    Ok(())
}

/// Mark an account inactive; a document with `active` says so too.
fn deactivate(c: &dyn Db, tenant: &str, kind: ResourceKind, id: &str) -> Result<()> {
    let sql = match c.dialect() {
        Dialect::Sqlite => {
            "UPDATE target_accounts SET active = 0, last_modified = ?4,
                    doc = CASE WHEN json_type(doc, '$.active') IS NOT NULL THEN json_set(doc, '$.active', json('false'))
                               ELSE doc END
             WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3"
        }
        Dialect::Postgres => {
            "UPDATE target_accounts SET active = 0, last_modified = ?4,
                    doc = CASE WHEN jsonb_exists(doc::jsonb, 'active') THEN jsonb_set(doc::jsonb, '{active}', 'false')::text
                               ELSE doc END
             WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3"
        }
    };
    c.execute(sql, args![tenant, kind.as_str(), id, now_rfc3339().as_str()])?;
    Ok(())
}

fn delete_account(c: &dyn Db, tenant: &str, kind: ResourceKind, id: &str) -> Result<()> {
    let args = args![tenant, kind.as_str(), id];
    c.execute("DELETE FROM links WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3", args)?;
    c.execute("DELETE FROM target_keys WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3", args)?;
    c.execute("DELETE FROM target_accounts WHERE tenant = ?1 AND kind = ?2 AND target_id = ?3", args)?;
    Ok(())
}

/// Every account of a tenant's kind, for the admin view.
pub(super) fn accounts(c: &dyn Db, tenant: &str, kind: ResourceKind) -> Result<Vec<TargetAccount>> {
    let rows = c.query(
        "SELECT t.target_id, t.active, t.doc,
                (SELECT r.id FROM links l JOIN resources r ON r.seq = l.resource_seq
                 WHERE l.tenant = t.tenant AND l.kind = t.kind AND l.target_id = t.target_id)
         FROM target_accounts t WHERE t.tenant = ?1 AND t.kind = ?2 ORDER BY t.created, t.target_id",
        args![tenant, kind.as_str()],
    )?;
    rows.into_iter()
        .map(|row| {
            let target_id = row.text(0)?;
            let doc = serde_json::from_str(&row.text(2)?)
                .map_err(|e| super::StoreError::Corrupt(format!("account {target_id}: {e}")))?;
            Ok(TargetAccount { target_id, active: row.bool(1)?, doc, linked_to: row.opt_text(3)? })
        })
        .collect()
}
