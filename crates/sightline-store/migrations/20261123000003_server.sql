-- The server's identity tables, field-encryption keys, and tenant isolation.
--
-- Roles (cluster-wide, so created only when missing):
--   sightline_app    the web server. Owns nothing; every workspace-scoped row it
--                    touches is filtered by row-level security to the workspace
--                    its transaction set with set_config('app.workspace_id').
--   sightline_worker the scan workers and the operator CLI. Works across
--                    workspaces by an explicit policy, never by ownership.
-- Row-level security is FORCEd, so the tables' owner is filtered too.

DO $$ BEGIN
    CREATE ROLE sightline_app LOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

DO $$ BEGIN
    CREATE ROLE sightline_worker LOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- The workspace a transaction is bound to; NULL when none was set.
CREATE FUNCTION app_workspace() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('app.workspace_id', true), '')::uuid
$$;

CREATE TABLE users (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id         uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email                text NOT NULL UNIQUE CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$'),
    role                 text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    -- Argon2id PHC string; NULL for users who sign in only through the ALB's IdP.
    password_hash        text,
    must_change_password boolean NOT NULL DEFAULT false,
    -- Sealed with the workspace's data key (AAD users/<id>/totp_secret).
    totp_secret          bytea,
    totp_pending         bytea,
    -- The last TOTP time step accepted: a code is good once.
    totp_last_step       bigint,
    failed_logins        integer NOT NULL DEFAULT 0,
    locked_until         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_workspace ON users (workspace_id);

CREATE TABLE recovery_codes (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_sha256  text NOT NULL CHECK (code_sha256 ~ '^[0-9a-f]{64}$'),
    used_at      timestamptz
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

CREATE TABLE sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_sha256  text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, so owners can tell keys apart.
    prefix       text NOT NULL,
    key_sha256   text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

-- Each workspace's data keys, stored only wrapped by the key-encryption key.
CREATE TABLE data_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key_id       integer NOT NULL CHECK (key_id > 0),
    kek_id       text NOT NULL,
    wrapped      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, key_id)
);

-- Integration credentials (Slack, Jira, an LLM key...), sealed; never returned.
CREATE TABLE integrations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,39}$'),
    credential   bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);

-- The audit chain's head, kept beside the log so that appending needs to see
-- only the head, not other workspaces' records. Rewriting it only breaks the
-- next link, which `sightline audit verify` reports.
CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    sequence  bigint NOT NULL,
    hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
INSERT INTO audit_head (sequence, hash)
SELECT coalesce((SELECT sequence FROM audit_log ORDER BY sequence DESC LIMIT 1), 0),
       coalesce((SELECT hash FROM audit_log ORDER BY sequence DESC LIMIT 1), repeat('0', 64));

-- Row-level security on every workspace-scoped table.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounts', 'jobs', 'scans', 'coverage_gaps', 'resources', 'findings',
                             'scan_finding_changes', 'audit_log', 'users', 'recovery_codes',
                             'sessions', 'api_keys', 'data_keys', 'integrations']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I TO sightline_app
                        USING (workspace_id = app_workspace()) WITH CHECK (workspace_id = app_workspace())', t);
        EXECUTE format('CREATE POLICY system ON %I TO sightline_worker USING (true) WITH CHECK (true)', t);
    END LOOP;
END $$;

ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON workspaces TO sightline_app USING (id = app_workspace());
CREATE POLICY system ON workspaces TO sightline_worker USING (true) WITH CHECK (true);

-- Before a workspace is known, the server may see exactly the row whose secret
-- it holds: the session or API key whose SHA-256 it set in app.credential_sha256,
-- or the user whose e-mail is being signed in (app.login_email).
CREATE POLICY credential ON sessions FOR SELECT TO sightline_app
    USING (token_sha256 = current_setting('app.credential_sha256', true));
CREATE POLICY credential ON api_keys FOR SELECT TO sightline_app
    USING (key_sha256 = current_setting('app.credential_sha256', true));
CREATE POLICY login ON users FOR SELECT TO sightline_app
    USING (email = current_setting('app.login_email', true));

GRANT USAGE ON SCHEMA public TO sightline_app, sightline_worker;
GRANT SELECT ON workspaces TO sightline_app;
-- So that the server can refuse a database at another migration than its own.
GRANT SELECT ON _sqlx_migrations TO sightline_app;
GRANT SELECT ON accounts, jobs, scans, coverage_gaps, resources, findings, scan_finding_changes TO sightline_app;
GRANT INSERT, DELETE ON accounts TO sightline_app;
GRANT INSERT ON jobs TO sightline_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, recovery_codes, sessions, api_keys, integrations TO sightline_app;
GRANT SELECT, INSERT ON data_keys TO sightline_app;
-- The audit log: read and append, never UPDATE or DELETE.
GRANT SELECT, INSERT ON audit_log TO sightline_app;
GRANT SELECT, UPDATE ON audit_head TO sightline_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO sightline_worker;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM sightline_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sightline_app, sightline_worker;
