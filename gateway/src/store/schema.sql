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
CREATE UNIQUE INDEX IF NOT EXISTS resources_user_external_id
    ON resources (tenant, external_id) WHERE kind = 'User' AND external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS resources_external_id ON resources (tenant, kind, external_id);

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
    request_id    TEXT
);
CREATE INDEX IF NOT EXISTS provisioning_log_tenant ON provisioning_log (tenant, seq);
