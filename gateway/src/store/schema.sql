-- scimgate embedded store. Every statement is idempotent: it runs at each open.

-- Users and groups of every tenant. `seq` gives the stable paging order;
-- `id` is the opaque SCIM id the IdP sees. `doc` is the canonical document
-- without id, meta, members or groups (those live in columns and tables).
CREATE TABLE IF NOT EXISTS resources (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('User', 'Group')),
    id            TEXT    NOT NULL,
    name_key      TEXT    NOT NULL,  -- lower(userName) or lower(displayName)
    display       TEXT,              -- what a member reference shows
    external_id   TEXT,
    version       INTEGER NOT NULL,
    created       TEXT    NOT NULL,
    last_modified TEXT    NOT NULL,
    doc           TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS resources_id ON resources (tenant, kind, id);
CREATE UNIQUE INDEX IF NOT EXISTS resources_name ON resources (tenant, kind, name_key);
-- A user's externalId is unique in its tenant (a group's need not be). An
-- expression, not a partial index (`WHERE kind = 'User'`): SQLite re-plans a
-- statement on every new binding of a parameter compared with a partial
-- index's condition, and every lookup here binds `kind`.
DROP INDEX IF EXISTS resources_user_external_id;
CREATE UNIQUE INDEX IF NOT EXISTS resources_user_external_id_unique
    ON resources (tenant, (CASE WHEN kind = 'User' THEN external_id END));
CREATE INDEX IF NOT EXISTS resources_external_id ON resources (tenant, kind, external_id);
-- A tenant's resources of one kind in storage order (the rowid rides along):
-- counts and plain list pages walk this narrow index, not the table.
CREATE INDEX IF NOT EXISTS resources_kind ON resources (tenant, kind);

-- Lower-cased email values of users, for `emails.value eq` filters.
CREATE TABLE IF NOT EXISTS emails (
    resource_seq INTEGER NOT NULL REFERENCES resources (seq) ON DELETE CASCADE,
    tenant       TEXT    NOT NULL,
    value_key    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS emails_value ON emails (tenant, value_key);
CREATE INDEX IF NOT EXISTS emails_resource ON emails (resource_seq);

-- Group membership; deleting either side deletes the row, so no membership
-- can dangle.
CREATE TABLE IF NOT EXISTS memberships (
    group_seq  INTEGER NOT NULL REFERENCES resources (seq) ON DELETE CASCADE,
    member_seq INTEGER NOT NULL REFERENCES resources (seq) ON DELETE CASCADE,
    display    TEXT,
    position   INTEGER NOT NULL,
    PRIMARY KEY (group_seq, member_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_member ON memberships (member_seq);

-- Bearer tokens: only a SHA-256 of each token is kept.
CREATE TABLE IF NOT EXISTS tokens (
    id      TEXT PRIMARY KEY,
    tenant  TEXT NOT NULL,
    hash    BLOB NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT
);

-- One record per SCIM request.
CREATE TABLE IF NOT EXISTS provisioning_log (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    time          TEXT    NOT NULL,
    tenant        TEXT    NOT NULL,
    operation     TEXT    NOT NULL,
    resource_type TEXT,
    resource_id   TEXT,
    outcome       TEXT    NOT NULL,
    status        INTEGER NOT NULL,
    duration_us   INTEGER NOT NULL,
    error         TEXT,
    request_id    TEXT,
    detail        TEXT,              -- what the pipeline decided (scope, link, events)
    failed_by     TEXT,              -- client, step, upstream, store or gateway
    trace         TEXT               -- JSON: each stage's decision and time (crate::trace)
);
CREATE INDEX IF NOT EXISTS provisioning_log_tenant ON provisioning_log (tenant, seq);

-- The embedded target: the accounts a tenant's pipeline produced, in the
-- target's own shape (what `transform-in` returned). Only tenants with a
-- pipeline have rows here; for the others the shadow is the target.
-- An account outlives its shadow resource when the tenant's policy keeps
-- deleted or out-of-scope users deactivated, so a later create can match it.
CREATE TABLE IF NOT EXISTS target_accounts (
    tenant        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    target_id     TEXT    NOT NULL,
    active        INTEGER NOT NULL,
    created       TEXT    NOT NULL,
    last_modified TEXT    NOT NULL,
    doc           TEXT    NOT NULL,
    PRIMARY KEY (tenant, kind, target_id)
) WITHOUT ROWID;

-- The match keys an account was written with (lower-cased values), so that
-- a create can find it by the keys of its `match-keys` hook.
CREATE TABLE IF NOT EXISTS target_keys (
    tenant    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value_key TEXT NOT NULL,
    target_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS target_keys_lookup ON target_keys (tenant, kind, attribute, value_key);
CREATE INDEX IF NOT EXISTS target_keys_account ON target_keys (tenant, kind, target_id);

-- The link between the SCIM id the IdP holds and the target account. One
-- account serves at most one resource. `in_scope` = 0: the resource left
-- scope and its account was kept, deactivated.
CREATE TABLE IF NOT EXISTS links (
    resource_seq INTEGER PRIMARY KEY REFERENCES resources (seq) ON DELETE CASCADE,
    tenant       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    target_id    TEXT    NOT NULL,
    in_scope     INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS links_target ON links (tenant, kind, target_id);

-- Replicas announce themselves here (on a shared store); each takes its
-- share of an upstream's outbound rate from the number alive.
CREATE TABLE IF NOT EXISTS replicas (
    id        TEXT    PRIMARY KEY,
    last_seen INTEGER NOT NULL  -- unix milliseconds
);
