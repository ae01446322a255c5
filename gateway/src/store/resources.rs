//! Users, groups and memberships.
//!
//! Documents come in already canonical (`scim::normalize`); this module owns
//! ids, versions, timestamps, uniqueness and referential integrity.

use std::collections::{HashMap, HashSet};

use std::sync::LazyLock;

use scim::ScimError;
use serde_json::{Map, Value};

use super::sql::{Db, Dialect, Row, args};
use super::target::{self, TargetChange, TargetOutcome, TargetView};
use super::{Result, Store, StoreError, now_rfc3339};
use pipeline::MatchKey;

/// The two resource types the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The endpoint path segment.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    fn parse(s: &str) -> Result<ResourceKind> {
        match s {
            "User" => Ok(ResourceKind::User),
            "Group" => Ok(ResourceKind::Group),
            other => Err(StoreError::Corrupt(format!("unknown kind {other}"))),
        }
    }

    /// The attribute whose lower-cased value must be unique per tenant.
    fn name_attribute(self) -> &'static str {
        match self {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        }
    }
}

/// A reference to a member of a group, or to a group a user belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRef {
    pub id: String,
    pub kind: ResourceKind,
    pub display: Option<String>,
}

/// A resource as stored, before it is rendered for a client.
#[derive(Debug, Clone)]
pub struct StoredResource {
    pub seq: i64,
    pub id: String,
    pub kind: ResourceKind,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    /// Canonical document without id, meta, members and groups.
    pub doc: Value,
    /// A group's members, in the order they were added.
    pub members: Vec<MemberRef>,
    /// The groups a user (or group) is a direct member of.
    pub groups: Vec<MemberRef>,
    /// The linked target account, for tenants with a pipeline.
    pub target: Option<TargetView>,
}

/// An indexed lookup that narrows a filtered query before it is evaluated
/// in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexedLookup {
    Id(String),
    /// `userName` (users) or `displayName` (groups), case-insensitive.
    Name(String),
    ExternalId(String),
    /// `emails.value`, case-insensitive.
    Email(String),
    /// Groups that have this member id.
    Member(String),
}

/// The columns every resource query selects from `resources r`: the row, and
/// its member and group references as JSON arrays of `[id, kind, display]`,
/// and its target account (see [`target::target_column`]), so that one
/// statement (one read transaction) loads a whole resource.
fn resource_columns(dialect: Dialect) -> &'static str {
    static SQLITE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "r.seq, r.id, r.kind, r.version, r.created, r.last_modified, r.doc,
             CASE WHEN r.kind = 'Group' THEN
                 (SELECT json_group_array(json_array(x.id, x.kind, coalesce(m.display, x.display)) ORDER BY m.position, x.seq)
                  FROM memberships m JOIN resources x ON x.seq = m.member_seq WHERE m.group_seq = r.seq)
             END,
             (SELECT json_group_array(json_array(g.id, g.kind, g.display) ORDER BY g.seq)
              FROM memberships m JOIN resources g ON g.seq = m.group_seq WHERE m.member_seq = r.seq),
             {}",
            target::target_column(Dialect::Sqlite)
        )
    });
    static POSTGRES: LazyLock<String> = LazyLock::new(|| {
        format!(
            "r.seq, r.id, r.kind, r.version, r.created, r.last_modified, r.doc,
             CASE WHEN r.kind = 'Group' THEN
                 (SELECT json_agg(json_build_array(x.id, x.kind, coalesce(m.display, x.display)) ORDER BY m.position, x.seq)::text
                  FROM memberships m JOIN resources x ON x.seq = m.member_seq WHERE m.group_seq = r.seq)
             END,
             (SELECT json_agg(json_build_array(g.id, g.kind, g.display) ORDER BY g.seq)::text
              FROM memberships m JOIN resources g ON g.seq = m.group_seq WHERE m.member_seq = r.seq),
             {}",
            target::target_column(Dialect::Postgres)
        )
    });
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

/// A statement built from [`resource_columns`], once per dialect.
struct ResourceQuery {
    sqlite: LazyLock<String>,
    postgres: LazyLock<String>,
}

macro_rules! resource_query {
    ($tail:literal) => {
        ResourceQuery {
            sqlite: LazyLock::new(|| {
                format!("SELECT {} FROM resources r {}", resource_columns(Dialect::Sqlite), $tail)
            }),
            postgres: LazyLock::new(|| {
                format!("SELECT {} FROM resources r {}", resource_columns(Dialect::Postgres), $tail)
            }),
        }
    };
}

impl ResourceQuery {
    fn sql(&self, dialect: Dialect) -> &str {
        match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        }
    }
}

static LOAD_BY_ID: ResourceQuery = resource_query!("WHERE tenant = ?1 AND kind = ?2 AND id = ?3");
static LOAD_BY_SEQ: ResourceQuery = resource_query!("WHERE seq = ?1");
/// The page's rows are picked on the narrow `resources_kind` index first,
/// so the skipped ones never have their references assembled.
static PAGE: ResourceQuery = resource_query!(
    "WHERE r.seq IN (SELECT seq FROM resources WHERE tenant = ?1 AND kind = ?2 ORDER BY seq LIMIT ?3 OFFSET ?4)
     ORDER BY r.seq"
);
/// Keyset paging: the page after a known `seq`, whatever came before it.
static PAGE_AFTER: ResourceQuery = resource_query!(
    "WHERE r.seq IN (SELECT seq FROM resources WHERE tenant = ?1 AND kind = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4)
     ORDER BY r.seq"
);
static ALL: ResourceQuery = resource_query!("WHERE tenant = ?1 AND kind = ?2 ORDER BY seq");
static BY_ID: ResourceQuery = resource_query!("WHERE tenant = ?1 AND kind = ?2 AND id = ?3");
static BY_NAME: ResourceQuery = resource_query!("WHERE tenant = ?1 AND kind = ?2 AND name_key = ?3");
static BY_EXTERNAL_ID: ResourceQuery =
    resource_query!("WHERE tenant = ?1 AND kind = ?2 AND external_id = ?3 ORDER BY seq");
static BY_EMAIL: ResourceQuery = resource_query!(
    "WHERE tenant = ?1 AND kind = ?2 AND seq IN (SELECT resource_seq FROM emails WHERE tenant = ?1 AND value_key = ?3)
     ORDER BY seq"
);
static BY_MEMBER: ResourceQuery = resource_query!(
    "WHERE tenant = ?1 AND kind = ?2 AND seq IN
        (SELECT m.group_seq FROM memberships m JOIN resources x ON x.seq = m.member_seq
         WHERE x.tenant = ?1 AND x.kind IN ('User', 'Group') AND x.id = ?3)
     ORDER BY seq"
);

impl Store {
    /// Insert a new resource; `doc` is canonical and may carry `members`.
    pub async fn create(&self, tenant: &str, kind: ResourceKind, doc: Value) -> Result<StoredResource> {
        Ok(self.create_with(tenant, kind, doc, TargetChange::None).await?.0)
    }

    /// Insert a new resource and, in the same transaction, its target side.
    pub async fn create_with(
        &self,
        tenant: &str,
        kind: ResourceKind,
        doc: Value,
        change: TargetChange,
    ) -> Result<(StoredResource, TargetOutcome)> {
        let (doc, members) = split_members(kind, doc);
        let owned_tenant = tenant.to_owned();
        let on_commit = self.positions.clone().map(|p| (p, tenant.to_owned()));
        let write = move |tx: &dyn Db| {
            let tenant = owned_tenant.as_str();
            check_unique_for_write(tx, tenant, kind, &doc, None)?;
            let member_rows = resolve_members(tx, tenant, &members)?;
            // Time-ordered (UUIDv7, 74 random bits): each insert appends to
            // the `(tenant, kind, id)` index instead of landing on a random page.
            let id = uuid::Uuid::now_v7().to_string();
            let now = now_rfc3339();
            let seq = tx
                .query_one(
                    "INSERT INTO resources (tenant, kind, id, name_key, display, external_id, version, created, last_modified, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8) RETURNING seq",
                    args![
                        tenant,
                        kind.as_str(),
                        id.as_str(),
                        name_key(kind, &doc).as_str(),
                        display_of(kind, &doc).as_deref(),
                        external_id(&doc),
                        now.as_str(),
                        doc.to_string().as_str()
                    ],
                )?
                .int(0)?;
            write_emails(tx, tenant, seq, &doc)?;
            write_memberships(tx, seq, &member_rows)?;
            let outcome = target::apply(tx, tenant, kind, seq, change)?;
            Ok((load_by_seq(tx, seq)?, outcome))
        };
        self.write_then(write, move |(created, _): &(StoredResource, TargetOutcome)| {
            if let Some((positions, tenant)) = on_commit {
                positions.inserted(&tenant, kind, created.seq);
            }
        })
        .await
    }

    /// Read, transform and write back in one transaction (PUT and PATCH):
    /// `change` gets the current resource and returns the new canonical
    /// document (with `members` for groups) and its target side. `if_match`
    /// is the version the client last saw, when it sent `If-Match`. `change`
    /// may fail with [`StoreError::Stale`] when the version it sees is not
    /// the one its caller prepared for.
    pub async fn modify_with(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        change: impl FnOnce(&StoredResource) -> Result<(Value, TargetChange)> + Send + 'static,
    ) -> Result<(StoredResource, TargetOutcome)> {
        let (tenant, id, if_match) = (tenant.to_owned(), id.to_owned(), if_match.map(str::to_owned));
        self.write(move |tx| {
            let current = load_for_update(tx, &tenant, kind, &id)?.ok_or_else(|| not_found(kind, &id))?;
            check_version(&current, if_match.as_deref())?;
            let (doc, target_change) = change(&current)?;
            update(tx, &tenant, &current, doc)?;
            let outcome = target::apply(tx, &tenant, kind, current.seq, target_change)?;
            Ok((load_by_seq(tx, current.seq)?, outcome))
        })
        .await
    }

    /// Delete a resource and every membership that names it; its target
    /// account goes or stays per `policy`.
    pub async fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        policy: target::DeletePolicy,
    ) -> Result<(StoredResource, TargetOutcome)> {
        let (tenant, id, if_match) = (tenant.to_owned(), id.to_owned(), if_match.map(str::to_owned));
        let on_commit = self.positions.clone().map(|p| (p, tenant.clone()));
        let write = move |tx: &dyn Db| {
            let current = load_for_update(tx, &tenant, kind, &id)?.ok_or_else(|| not_found(kind, &id))?;
            check_version(&current, if_match.as_deref())?;
            let outcome = target::on_delete(tx, &tenant, kind, current.seq, policy)?;
            tx.execute("DELETE FROM resources WHERE seq = ?1", args![current.seq])?;
            Ok((current, outcome))
        };
        self.write_then(write, move |(deleted, _): &(StoredResource, TargetOutcome)| {
            if let Some((positions, tenant)) = on_commit {
                positions.removed(&tenant, kind, deleted.seq);
            }
        })
        .await
    }

    /// The unlinked target account `keys` would link a new resource to, as
    /// `(target_id, attribute)`; a SCIM error when a key names an account
    /// another resource holds. Reads only (the dry run).
    pub async fn find_match(
        &self,
        tenant: &str,
        kind: ResourceKind,
        keys: &[MatchKey],
    ) -> Result<std::result::Result<Option<(String, String)>, ScimError>> {
        let (tenant, keys) = (tenant.to_owned(), keys.to_vec());
        self.read(move |c| target::find_match(c, &tenant, kind, &keys)).await
    }

    /// The SCIM id of the resource linked to the account `target_id`.
    pub async fn link_owner(&self, tenant: &str, kind: ResourceKind, target_id: &str) -> Result<Option<String>> {
        let (tenant, target_id) = (tenant.to_owned(), target_id.to_owned());
        self.read(move |c| target::link_owner(c, &tenant, kind, &target_id)).await
    }

    /// The in-scope accounts of the resources `ids`, by SCIM id (to name a
    /// group's members the way the upstream knows them).
    pub async fn linked_accounts(
        &self,
        tenant: &str,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<HashMap<String, String>> {
        let (tenant, ids) = (tenant.to_owned(), ids.to_vec());
        self.read(move |c| target::linked_accounts(c, &tenant, kind, &ids)).await
    }

    /// Whether `doc` could be created now without a uniqueness conflict:
    /// checked before a create is sent upstream, so a doomed create never
    /// reaches it. (The write checks again.)
    pub async fn check_unique(&self, tenant: &str, kind: ResourceKind, doc: &Value) -> Result<()> {
        let tenant = tenant.to_owned();
        let probe = unique_fields(kind, doc);
        self.read(move |c| check_unique(c, &tenant, kind, &probe, None)).await
    }

    /// Every target account of a tenant's `kind`, oldest first.
    pub async fn target_accounts(&self, tenant: &str, kind: ResourceKind) -> Result<Vec<target::TargetAccount>> {
        let tenant = tenant.to_owned();
        self.read(move |c| target::accounts(c, &tenant, kind)).await
    }

    pub async fn get(&self, tenant: &str, kind: ResourceKind, id: &str) -> Result<Option<StoredResource>> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.read(move |c| load_by_id(c, &tenant, kind, &id)).await
    }

    /// How many resources of `kind` the tenant has.
    pub async fn count(&self, tenant: &str, kind: ResourceKind) -> Result<usize> {
        let tenant = tenant.to_owned();
        self.read(move |c| {
            let n = c
                .query_one(
                    "SELECT count(*) FROM resources WHERE tenant = ?1 AND kind = ?2",
                    args![&tenant, kind.as_str()],
                )?
                .int(0)?;
            Ok(n as usize)
        })
        .await
    }

    /// How many resources of `kind` the tenant has, and the page of them in
    /// storage order after `offset` skipped, at most `limit` (SCIM's
    /// `startIndex` and `count`). The embedded store answers from its
    /// positions (one index seek, however far the page); PostgreSQL with a
    /// count and an `OFFSET`.
    pub async fn list_page(
        &self,
        tenant: &str,
        kind: ResourceKind,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<StoredResource>)> {
        if let Some(positions) = &self.positions {
            let slot = match positions.slot(tenant, kind, offset) {
                Ok(slot) => Some(slot),
                Err(version) => {
                    positions.install(tenant, kind, version, self.seqs(tenant, kind).await?);
                    // None when a write raced the load: this page comes from SQL.
                    positions.slot(tenant, kind, offset).ok()
                }
            };
            if let Some(slot) = slot {
                let page = match slot.first_seq {
                    Some(first) if limit > 0 => self.page_after(tenant, kind, first - 1, limit).await?,
                    _ => Vec::new(),
                };
                return Ok((slot.total, page));
            }
        }
        let total = self.count(tenant, kind).await?;
        let page = if limit == 0 { Vec::new() } else { self.page(tenant, kind, offset, limit).await? };
        Ok((total, page))
    }

    /// The `seq` of every resource of `kind`, ascending.
    async fn seqs(&self, tenant: &str, kind: ResourceKind) -> Result<Vec<i64>> {
        let tenant = tenant.to_owned();
        self.read(move |c| {
            let rows = c.query(
                "SELECT seq FROM resources WHERE tenant = ?1 AND kind = ?2 ORDER BY seq",
                args![&tenant, kind.as_str()],
            )?;
            rows.iter().map(|row| row.int(0)).collect()
        })
        .await
    }

    /// One page in storage order: `offset` resources skipped, at most `limit`.
    pub async fn page(
        &self,
        tenant: &str,
        kind: ResourceKind,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<StoredResource>> {
        let tenant = tenant.to_owned();
        self.read(move |c| {
            let rows = c.query(PAGE.sql(c.dialect()), args![&tenant, kind.as_str(), limit as i64, offset as i64])?;
            rows.into_iter().map(finish).collect()
        })
        .await
    }

    /// At most `limit` resources stored after `after_seq` (0: from the
    /// first), in storage order: a walk over every resource costs one index
    /// seek per page, however far it has come.
    pub async fn page_after(
        &self,
        tenant: &str,
        kind: ResourceKind,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredResource>> {
        let tenant = tenant.to_owned();
        self.read(move |c| {
            let rows = c.query(PAGE_AFTER.sql(c.dialect()), args![&tenant, kind.as_str(), after_seq, limit as i64])?;
            rows.into_iter().map(finish).collect()
        })
        .await
    }

    /// Every resource of `kind` that may satisfy `lookup` (all of them with
    /// `None`), in storage order. The caller evaluates its full filter.
    pub async fn candidates(
        &self,
        tenant: &str,
        kind: ResourceKind,
        lookup: Option<&IndexedLookup>,
    ) -> Result<Vec<StoredResource>> {
        let (tenant, lookup) = (tenant.to_owned(), lookup.cloned());
        self.read(move |c| {
            let (query, arg) = match lookup {
                None => (&ALL, None),
                Some(IndexedLookup::Id(v)) => (&BY_ID, Some(v)),
                Some(IndexedLookup::Name(v)) => (&BY_NAME, Some(v.to_lowercase())),
                Some(IndexedLookup::ExternalId(v)) => (&BY_EXTERNAL_ID, Some(v)),
                Some(IndexedLookup::Email(v)) => (&BY_EMAIL, Some(v.to_lowercase())),
                Some(IndexedLookup::Member(v)) => (&BY_MEMBER, Some(v)),
            };
            let rows = match &arg {
                Some(arg) => c.query(query.sql(c.dialect()), args![&tenant, kind.as_str(), arg])?,
                None => c.query(query.sql(c.dialect()), args![&tenant, kind.as_str()])?,
            };
            rows.into_iter().map(finish).collect()
        })
        .await
    }
}

fn not_found(kind: ResourceKind, id: &str) -> StoreError {
    ScimError::not_found(format!("{} {id} not found", kind.as_str())).into()
}

fn check_version(current: &StoredResource, if_match: Option<&str>) -> Result<()> {
    match if_match {
        None => Ok(()),
        Some(tags) if etag_matches(tags, current.version) => Ok(()),
        Some(_) => Err(ScimError::precondition_failed(format!(
            "{} {} has changed: its version is now W/\"{}\"",
            current.kind.as_str(),
            current.id,
            current.version
        ))
        .into()),
    }
}

/// Does an `If-Match`/`If-None-Match` header value name `version`? Accepts
/// `*`, lists, and strong or weak tags.
pub fn etag_matches(header: &str, version: i64) -> bool {
    let want = version.to_string();
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == want)
}

fn update(tx: &dyn Db, tenant: &str, current: &StoredResource, doc: Value) -> Result<()> {
    let kind = current.kind;
    let (doc, members) = split_members(kind, doc);
    // Most updates (a PATCH of a name, `active`, a title) keep the indexed
    // keys and emails: then their index entries and rows are left alone,
    // and no other resource can newly hold the same keys.
    let new_name = name_key(kind, &doc);
    let same_keys = new_name == name_key(kind, &current.doc) && external_id(&doc) == external_id(&current.doc);
    if !same_keys {
        check_unique_for_write(tx, tenant, kind, &doc, Some(current.seq))?;
    }
    let member_rows = resolve_members(tx, tenant, &members)?;
    let (now, text) = (now_rfc3339(), doc.to_string());
    if same_keys {
        tx.execute(
            "UPDATE resources SET display = ?2, version = version + 1, last_modified = ?3, doc = ?4 WHERE seq = ?1",
            args![current.seq, display_of(kind, &doc).as_deref(), now.as_str(), text.as_str()],
        )?;
    } else {
        tx.execute(
            "UPDATE resources SET name_key = ?2, display = ?3, external_id = ?4, version = version + 1,
                    last_modified = ?5, doc = ?6 WHERE seq = ?1",
            args![
                current.seq,
                new_name.as_str(),
                display_of(kind, &doc).as_deref(),
                external_id(&doc),
                now.as_str(),
                text.as_str()
            ],
        )?;
    }
    if email_keys(&doc) != email_keys(&current.doc) {
        tx.execute("DELETE FROM emails WHERE resource_seq = ?1", args![current.seq])?;
        write_emails(tx, tenant, current.seq, &doc)?;
    }
    if kind == ResourceKind::Group {
        replace_memberships(tx, current.seq, &member_rows)?;
    }
    Ok(())
}

/// Separate a group's `members` from the rest of its document.
fn split_members(kind: ResourceKind, doc: Value) -> (Value, Vec<(String, Option<String>)>) {
    let Value::Object(mut map) = doc else { return (doc, Vec::new()) };
    let members = match (kind, map.remove("members")) {
        (ResourceKind::Group, Some(Value::Array(items))) => items
            .iter()
            .filter_map(|m| {
                let id = m.get("value")?.as_str()?.to_owned();
                let display = m.get("display").and_then(Value::as_str).map(str::to_owned);
                Some((id, display))
            })
            .collect(),
        _ => Vec::new(),
    };
    (Value::Object(map), members)
}

/// The part of `doc` uniqueness looks at (its name and externalId), to send
/// to another thread without the whole document.
fn unique_fields(kind: ResourceKind, doc: &Value) -> Value {
    let mut probe = Map::new();
    for attr in [kind.name_attribute(), "externalId"] {
        if let Some(v) = doc.get(attr) {
            probe.insert(attr.to_owned(), v.clone());
        }
    }
    Value::Object(probe)
}

fn name_key(kind: ResourceKind, doc: &Value) -> String {
    doc.get(kind.name_attribute()).and_then(Value::as_str).unwrap_or_default().to_lowercase()
}

fn display_of(kind: ResourceKind, doc: &Value) -> Option<String> {
    let pick = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    match kind {
        ResourceKind::User => pick("displayName").or_else(|| pick("userName")),
        ResourceKind::Group => pick("displayName"),
    }
}

fn external_id(doc: &Value) -> Option<&str> {
    doc.get("externalId").and_then(Value::as_str)
}

const NAME_TAKEN: &str = "SELECT seq FROM resources WHERE tenant = ?1 AND kind = ?2 AND name_key = ?3";
const USER_EXTERNAL_ID_TAKEN: &str = "SELECT seq FROM resources WHERE tenant = ?1 AND kind = ?2 AND external_id = ?3";

/// [`check_unique`] before a write. On PostgreSQL the unique indexes alone
/// answer (a concurrent transaction could pass this check anyway, and the
/// index's refusal is a 409 naming the value too): two round trips fewer.
fn check_unique_for_write(
    c: &dyn Db,
    tenant: &str,
    kind: ResourceKind,
    doc: &Value,
    except: Option<i64>,
) -> Result<()> {
    match c.dialect() {
        Dialect::Sqlite => check_unique(c, tenant, kind, doc, except),
        Dialect::Postgres => Ok(()),
    }
}

/// 409 when another resource of the tenant holds the same name or (for
/// users) externalId.
fn check_unique(c: &dyn Db, tenant: &str, kind: ResourceKind, doc: &Value, except: Option<i64>) -> Result<()> {
    let taken = |sql: &str, value: &str| -> Result<bool> {
        let seq = c.query_opt(sql, args![tenant, kind.as_str(), value])?.map(|r| r.int(0)).transpose()?;
        Ok(seq.is_some_and(|s| Some(s) != except))
    };
    let attr = kind.name_attribute();
    let name = name_key(kind, doc);
    if taken(NAME_TAKEN, &name)? {
        let shown = doc.get(attr).and_then(Value::as_str).unwrap_or_default();
        return Err(ScimError::uniqueness(format!("{attr} '{shown}' is already taken")).into());
    }
    if kind == ResourceKind::User
        && let Some(ext) = external_id(doc)
        && taken(USER_EXTERNAL_ID_TAKEN, ext)?
    {
        return Err(ScimError::uniqueness(format!("externalId '{ext}' is already taken")).into());
    }
    Ok(())
}

/// A member's row by its id, which may be a user's or a group's. Naming
/// both kinds lets SQLite use the whole `(tenant, kind, id)` index; without
/// the kind it walks every row of the tenant for each member.
const MEMBER_SEQ: &str = "SELECT seq FROM resources WHERE tenant = ?1 AND kind IN ('User', 'Group') AND id = ?2";

/// Every member's row on PostgreSQL in one round trip: the ids go as one
/// JSON array, each comes back with its row (NULL when unknown) in order.
const MEMBER_SEQS_POSTGRES: &str =
    "SELECT r.seq FROM json_array_elements_text(CAST(CAST(?2 AS TEXT) AS json)) WITH ORDINALITY AS m(id, n)
     LEFT JOIN resources r ON r.tenant = ?1 AND r.kind IN ('User', 'Group') AND r.id = m.id
     ORDER BY m.n";

/// Map member ids to rows of the same tenant; an unknown id is the IdP's
/// error (400), never a dangling membership.
fn resolve_members(
    c: &dyn Db,
    tenant: &str,
    members: &[(String, Option<String>)],
) -> Result<Vec<(i64, Option<String>)>> {
    let seqs: Vec<Option<i64>> = match c.dialect() {
        // In-process: a lookup per member costs microseconds.
        Dialect::Sqlite => members
            .iter()
            .map(|(id, _)| c.query_opt(MEMBER_SEQ, args![tenant, id])?.map(|r| r.int(0)).transpose())
            .collect::<Result<_>>()?,
        Dialect::Postgres if members.is_empty() => Vec::new(),
        Dialect::Postgres => {
            let ids = Value::Array(members.iter().map(|(id, _)| Value::String(id.clone())).collect()).to_string();
            let rows = c.query(MEMBER_SEQS_POSTGRES, args![tenant, ids.as_str()])?;
            rows.iter().map(|r| r.opt_int(0)).collect::<Result<_>>()?
        }
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(members.len());
    for ((id, display), seq) in members.iter().zip(seqs) {
        let Some(seq) = seq else {
            return Err(ScimError::invalid_value(format!("member '{id}' does not exist")).into());
        };
        if seen.insert(seq) {
            out.push((seq, display.clone()));
        }
    }
    Ok(out)
}

/// Membership rows on PostgreSQL in one round trip: `[[member, display,
/// position], ...]` as one JSON argument.
const UPSERT_MEMBERSHIPS_POSTGRES: &str = "INSERT INTO memberships (group_seq, member_seq, display, position)
     SELECT ?1, CAST(e->>0 AS BIGINT), e->>1, CAST(e->>2 AS BIGINT) FROM json_array_elements(CAST(CAST(?2 AS TEXT) AS json)) AS e
     ON CONFLICT (group_seq, member_seq) DO UPDATE SET display = coalesce(excluded.display, memberships.display)";

const UPSERT_MEMBERSHIP: &str =
    "INSERT INTO memberships (group_seq, member_seq, display, position) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (group_seq, member_seq) DO UPDATE SET display = coalesce(excluded.display, memberships.display)";

/// Write `(member, display, position)` rows of group `group_seq`, keeping a
/// known display where the new one is absent.
fn upsert_memberships(c: &dyn Db, group_seq: i64, rows: &[(i64, Option<&str>, usize)]) -> Result<()> {
    if rows.iter().any(|(member, _, _)| *member == group_seq) {
        return Err(ScimError::invalid_value("a group cannot be a member of itself").into());
    }
    match c.dialect() {
        Dialect::Sqlite => {
            for (member, display, pos) in rows {
                c.execute(UPSERT_MEMBERSHIP, args![group_seq, *member, *display, *pos as i64])?;
            }
        }
        Dialect::Postgres if rows.is_empty() => {}
        Dialect::Postgres => {
            let json = Value::Array(
                rows.iter().map(|(member, display, pos)| serde_json::json!([member, display, pos])).collect(),
            )
            .to_string();
            c.execute(UPSERT_MEMBERSHIPS_POSTGRES, args![group_seq, json.as_str()])?;
        }
    }
    Ok(())
}

fn write_memberships(c: &dyn Db, group_seq: i64, members: &[(i64, Option<String>)]) -> Result<()> {
    let rows: Vec<(i64, Option<&str>, usize)> =
        members.iter().enumerate().map(|(pos, (member, display))| (*member, display.as_deref(), pos)).collect();
    upsert_memberships(c, group_seq, &rows)
}

/// Bring the membership rows to `members`, touching only what changed.
fn replace_memberships(c: &dyn Db, group_seq: i64, members: &[(i64, Option<String>)]) -> Result<()> {
    let wanted: HashMap<i64, usize> = members.iter().enumerate().map(|(i, (s, _))| (*s, i)).collect();
    let existing: Vec<i64> = c
        .query("SELECT member_seq FROM memberships WHERE group_seq = ?1", args![group_seq])?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_>>()?;
    for seq in &existing {
        if !wanted.contains_key(seq) {
            c.execute("DELETE FROM memberships WHERE group_seq = ?1 AND member_seq = ?2", args![group_seq, *seq])?;
        }
    }
    let existing: HashSet<i64> = existing.into_iter().collect();
    let changed: Vec<(i64, Option<&str>, usize)> = members
        .iter()
        .enumerate()
        .filter(|(_, (member, display))| !existing.contains(member) || display.is_some())
        .map(|(pos, (member, display))| (*member, display.as_deref(), pos))
        .collect();
    upsert_memberships(c, group_seq, &changed)
}

fn write_emails(c: &dyn Db, tenant: &str, seq: i64, doc: &Value) -> Result<()> {
    for key in email_keys(doc) {
        c.execute(
            "INSERT INTO emails (resource_seq, tenant, value_key) VALUES (?1, ?2, ?3)",
            args![seq, tenant, key.as_str()],
        )?;
    }
    Ok(())
}

/// The `emails` rows of a document: each email value, lower-cased.
fn email_keys(doc: &Value) -> Vec<String> {
    let Some(Value::Array(emails)) = doc.get("emails") else { return Vec::new() };
    emails.iter().filter_map(|e| e.get("value").and_then(Value::as_str)).map(str::to_lowercase).collect()
}

/// One row as selected by [`resource_columns`].
fn finish(mut row: Row) -> Result<StoredResource> {
    let seq = row.int(0)?;
    let id = row.take_text(1)?;
    let kind = ResourceKind::parse(&row.take_text(2)?)?;
    let version = row.int(3)?;
    let created = row.take_text(4)?;
    let last_modified = row.take_text(5)?;
    let doc: Value = serde_json::from_str(&row.take_text(6)?).map_err(|e| StoreError::Corrupt(format!("{id}: {e}")))?;
    if !doc.is_object() {
        return Err(StoreError::Corrupt(format!("{id}: not an object")));
    }
    let members = parse_refs(&id, row.take_opt_text(7)?.as_deref())?;
    let groups = parse_refs(&id, row.take_opt_text(8)?.as_deref())?;
    let target = target::parse_target(&id, row.take_opt_text(9)?.as_deref())?;
    Ok(StoredResource { seq, id, kind, version, created, last_modified, doc, members, groups, target })
}

/// Decode `[[id, kind, display], ...]`.
fn parse_refs(owner: &str, json: Option<&str>) -> Result<Vec<MemberRef>> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let rows: Vec<(String, String, Option<String>)> =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("references of {owner}: {e}")))?;
    rows.into_iter()
        .map(|(id, kind, display)| Ok(MemberRef { id, kind: ResourceKind::parse(&kind)?, display }))
        .collect()
}

fn load_by_id(c: &dyn Db, tenant: &str, kind: ResourceKind, id: &str) -> Result<Option<StoredResource>> {
    c.query_opt(LOAD_BY_ID.sql(c.dialect()), args![tenant, kind.as_str(), id])?.map(finish).transpose()
}

/// [`load_by_id`] for a read-modify-write: on PostgreSQL the row is locked
/// first, so that a concurrent write (from any replica) waits and this one
/// sees the latest committed version. (SQLite's one writer needs no lock.)
fn load_for_update(c: &dyn Db, tenant: &str, kind: ResourceKind, id: &str) -> Result<Option<StoredResource>> {
    if c.dialect() == Dialect::Postgres
        && c.query_opt(
            "SELECT seq FROM resources WHERE tenant = ?1 AND kind = ?2 AND id = ?3 FOR UPDATE",
            args![tenant, kind.as_str(), id],
        )?
        .is_none()
    {
        return Ok(None);
    }
    load_by_id(c, tenant, kind, id)
}

fn load_by_seq(c: &dyn Db, seq: i64) -> Result<StoredResource> {
    finish(c.query_one(LOAD_BY_SEQ.sql(c.dialect()), args![seq])?)
}

impl StoredResource {
    /// The members as a PATCH sees them: `[{"value": id, "display": ...}]`.
    pub fn members_json(&self) -> Value {
        Value::Array(
            self.members
                .iter()
                .map(|m| {
                    let mut o = Map::new();
                    o.insert("value".into(), Value::String(m.id.clone()));
                    if let Some(d) = &m.display {
                        o.insert("display".into(), Value::String(d.clone()));
                    }
                    Value::Object(o)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    /// Group PATCHes resolve every member on each write: a lookup that
    /// scanned the tenant made a 100-member PATCH take 150 ms at 5k users.
    #[test]
    fn member_lookup_uses_the_whole_id_index() {
        let (_d, s) = store();
        let plan: String = s
            .sqlite()
            .raw_read(|c| {
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {MEMBER_SEQ}"))?;
                let rows = stmt.query_map(rusqlite::params!["a", "b"], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
            })
            .unwrap();
        assert!(plan.contains("(tenant=? AND kind=? AND id=?)"), "{plan}");
    }

    /// A statement SQLite must re-plan on each binding costs a parse per
    /// call: with a partial index on `kind`, every create and read did.
    #[test]
    fn hot_statements_are_planned_once() {
        let (_d, s) = store();
        for n in 0..3 {
            let u = block(s.create(
                "a",
                ResourceKind::User,
                json!({"userName": format!("u{n}"), "externalId": format!("x{n}")}),
            ))
            .unwrap();
            block(s.create(
                "a",
                ResourceKind::Group,
                json!({"displayName": format!("g{n}"), "members": [{"value": u.id}]}),
            ))
            .unwrap();
            block(s.get("a", ResourceKind::User, &u.id)).unwrap().unwrap();
            block(s.get("a", ResourceKind::Group, "none")).unwrap();
        }
        let replans = |c: &rusqlite::Connection| -> Result<Vec<(String, i32)>> {
            let mut out = Vec::new();
            let (by_id, by_seq) = (LOAD_BY_ID.sql(Dialect::Sqlite), LOAD_BY_SEQ.sql(Dialect::Sqlite));
            for sql in [NAME_TAKEN, USER_EXTERNAL_ID_TAKEN, MEMBER_SEQ, by_id, by_seq] {
                let count = c.prepare_cached(sql)?.get_status(rusqlite::StatementStatus::RePrepare);
                out.push((sql.chars().take(60).collect(), count));
            }
            Ok(out)
        };
        let written = s.sqlite().raw_write(replans).unwrap();
        assert!(written.iter().all(|(_, n)| *n == 0), "re-planned on the writer: {written:?}");
        let read = s.sqlite().raw_read(replans).unwrap();
        assert!(read.iter().all(|(_, n)| *n == 0), "re-planned on a reader: {read:?}");
    }

    #[test]
    fn uniqueness_is_per_tenant_and_case_insensitive() {
        let (_d, s) = store();
        block(s.create("a", ResourceKind::User, json!({"userName": "Bob", "externalId": "x1"}))).unwrap();
        let e = block(s.create("a", ResourceKind::User, json!({"userName": "bob"}))).unwrap_err();
        assert!(matches!(e, StoreError::Scim(ref e) if e.status == 409), "{e}");
        let e = block(s.create("a", ResourceKind::User, json!({"userName": "other", "externalId": "x1"}))).unwrap_err();
        assert!(matches!(e, StoreError::Scim(ref e) if e.status == 409));
        block(s.create("b", ResourceKind::User, json!({"userName": "bob", "externalId": "x1"}))).unwrap();
    }

    #[test]
    fn memberships_follow_their_members() {
        let (_d, s) = store();
        let u = block(s.create("a", ResourceKind::User, json!({"userName": "u"}))).unwrap();
        let other = block(s.create("b", ResourceKind::User, json!({"userName": "v"}))).unwrap();
        let bad =
            block(s.create("a", ResourceKind::Group, json!({"displayName": "g", "members": [{"value": other.id}]})));
        assert!(
            matches!(bad, Err(StoreError::Scim(ref e)) if e.status == 400),
            "another tenant's user is unknown here"
        );
        let g = block(s.create("a", ResourceKind::Group, json!({"displayName": "g", "members": [{"value": u.id}]})))
            .unwrap();
        assert_eq!(g.members.len(), 1);
        assert_eq!(block(s.get("a", ResourceKind::User, &u.id)).unwrap().unwrap().groups[0].id, g.id);
        block(s.delete("a", ResourceKind::User, &u.id, None, Default::default())).unwrap();
        assert!(block(s.get("a", ResourceKind::Group, &g.id)).unwrap().unwrap().members.is_empty());
    }

    #[test]
    fn if_match_guards_writes() {
        let (_d, s) = store();
        let u = block(s.create("a", ResourceKind::User, json!({"userName": "u"}))).unwrap();
        let put = |doc: Value| {
            let write =
                s.modify_with("a", ResourceKind::User, &u.id, Some("W/\"1\""), move |_| Ok((doc, TargetChange::None)));
            block(write).map(|(stored, _)| stored)
        };
        let u2 = put(json!({"userName": "u2"})).unwrap();
        assert_eq!(u2.version, 2);
        let stale = put(json!({"userName": "u3"}));
        assert!(matches!(stale, Err(StoreError::Scim(ref e)) if e.status == 412));
        let found = block(s.candidates("a", ResourceKind::User, Some(&IndexedLookup::Name("U2".into())))).unwrap();
        assert_eq!(found.len(), 1);
    }

    /// Pages from the positions are the pages SQL's `OFFSET` gives, through
    /// creates and deletes, in every tenant and kind, and a count that
    /// follows them.
    #[test]
    fn list_pages_from_positions_match_offset_pages() {
        let (_d, s) = store();
        let user = |n: usize| json!({"userName": format!("u{n}")});
        let ids: Vec<String> = (0..40).map(|n| block(s.create("a", ResourceKind::User, user(n))).unwrap().id).collect();
        block(s.create("b", ResourceKind::User, user(0))).unwrap();
        block(s.create("a", ResourceKind::Group, json!({"displayName": "g"}))).unwrap();
        let check = |label: &str| {
            let count = block(s.count("a", ResourceKind::User)).unwrap();
            for (offset, limit) in [(0, 10), (7, 10), (35, 10), (count, 10), (count + 5, 10), (3, 0)] {
                let (total, page) = block(s.list_page("a", ResourceKind::User, offset, limit)).unwrap();
                let expected = block(s.page("a", ResourceKind::User, offset, limit)).unwrap();
                assert_eq!(total, count, "{label}: total");
                let seqs = |rows: &[StoredResource]| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
                assert_eq!(seqs(&page), seqs(&expected), "{label}: offset {offset}, limit {limit}");
            }
        };
        check("first load");
        for id in ids.iter().step_by(3) {
            block(s.delete("a", ResourceKind::User, id, None, target::DeletePolicy::Delete)).unwrap();
        }
        check("after deletes");
        for n in 40..45 {
            block(s.create("a", ResourceKind::User, user(n))).unwrap();
        }
        check("after creates");
        assert_eq!(block(s.list_page("b", ResourceKind::User, 0, 10)).unwrap().0, 1);
        assert_eq!(block(s.list_page("a", ResourceKind::Group, 0, 10)).unwrap().0, 1);
    }

    /// An update that keeps the keys and emails leaves their rows alone;
    /// one that changes them moves them, and is checked for uniqueness.
    #[test]
    fn updates_move_only_the_keys_and_emails_they_change() {
        let (_d, s) = store();
        let a =
            block(s.create("t", ResourceKind::User, json!({"userName": "a", "emails": [{"value": "A@x.example"}]})))
                .unwrap();
        block(s.create("t", ResourceKind::User, json!({"userName": "b"}))).unwrap();
        let put = |doc: Value| {
            block(s.modify_with("t", ResourceKind::User, &a.id, None, move |_| Ok((doc, TargetChange::None))))
        };
        let by_email = |v: &str| {
            block(s.candidates("t", ResourceKind::User, Some(&IndexedLookup::Email(v.into())))).unwrap().len()
        };
        put(json!({"userName": "a", "title": "t", "emails": [{"value": "a@x.example"}]})).unwrap();
        assert_eq!(by_email("a@x.example"), 1);
        put(json!({"userName": "A2", "emails": [{"value": "c@x.example"}]})).unwrap();
        assert_eq!((by_email("a@x.example"), by_email("c@x.example")), (0, 1));
        let found = block(s.candidates("t", ResourceKind::User, Some(&IndexedLookup::Name("a2".into())))).unwrap();
        assert_eq!(found.len(), 1);
        let taken = put(json!({"userName": "B"}));
        assert!(matches!(taken, Err(StoreError::Scim(ref e)) if e.status == 409), "{taken:?}");
        assert_eq!(block(s.get("t", ResourceKind::User, &a.id)).unwrap().unwrap().version, 3);
    }
}
