-- Identity, tenancy and account security (issue 12).
--
-- Data changes run as the migrating role, which on Aurora is not a superuser
-- and so is filtered by FORCEd row-level security: each table is briefly
-- NO FORCE inside this transaction (nobody else sees that state).

-- 1. Accounts are assumed with their workspace's ExternalId, never one of
-- their own: a per-account ExternalId let one workspace register another
-- workspace's monitoring role with that workspace's ExternalId. The column
-- stays (empty) for one release so that the previous image can still start.
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
UPDATE accounts SET external_id = NULL WHERE external_id IS NOT NULL;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE accounts ADD CONSTRAINT accounts_external_id_unused CHECK (external_id IS NULL);
-- The server adds accounts only with a monitoring role: an account without
-- one would be scanned with the worker's own credentials.
CREATE POLICY server_needs_role_arn ON accounts AS RESTRICTIVE FOR INSERT TO sightline_app
    WITH CHECK (role_arn IS NOT NULL);

-- 2. The worker role: jobs and scan writes, nothing of people, keys or the
-- audit trail but what publishing the chain's head reads.
REVOKE ALL ON users, recovery_codes, sessions, api_keys, data_keys, integrations,
              saved_queries, console_bindings FROM sightline_worker;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_log, audit_head FROM sightline_worker;
GRANT SELECT ON audit_log, audit_head TO sightline_worker;

-- 3. The console's binding lookup reads the catalog by its qualified name
-- with the temporary schema searched last, and nobody but the roles that
-- need it may create temporary tables (a temp table named like a catalog
-- relation would otherwise be searched first).
CREATE OR REPLACE FUNCTION console_workspace() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT b.workspace_id FROM public.console_bindings b
    WHERE b.pid = pg_catalog.pg_backend_pid()
      AND b.backend_start = (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a
                             WHERE a.pid = pg_catalog.pg_backend_pid())
$$;
ALTER FUNCTION bind_console(integer, timestamptz, uuid) SET search_path = pg_catalog, public, pg_temp;
DO $$ BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM sightline_console', current_database());
END $$;

-- 4. A console result row over the byte cap is refused by the database,
-- before any of it reaches the server.
CREATE FUNCTION console_row_fits(row_bytes bigint, cap bigint) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF row_bytes > cap THEN
        RAISE EXCEPTION 'a result row of % bytes is over the console''s cap of % bytes', row_bytes, cap
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION console_row_fits(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console_row_fits(bigint, bigint) TO sightline_console;

-- 12. ALB users are bound to their identity provider's issuer and subject,
-- not to an e-mail address alone; `oidc_seen_at` marks an ALB sign-in.
-- 18. An e-mail is unique within a workspace, not across workspaces, so
-- adding a user cannot tell an admin who belongs to another workspace.
ALTER TABLE users ADD COLUMN oidc_issuer text;
ALTER TABLE users ADD COLUMN oidc_subject text;
ALTER TABLE users ADD COLUMN oidc_seen_at timestamptz;
ALTER TABLE users ADD CONSTRAINT users_oidc_both CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL));
ALTER TABLE users ADD CONSTRAINT users_oidc_identity UNIQUE (workspace_id, oidc_issuer, oidc_subject);
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ADD CONSTRAINT users_workspace_email UNIQUE (workspace_id, email);
CREATE INDEX users_email ON users (email);

-- 11. Two-factor can be required of owners and admins, per workspace.
ALTER TABLE workspaces ADD COLUMN require_mfa_for_admins boolean NOT NULL DEFAULT false;
GRANT UPDATE (require_mfa_for_admins) ON workspaces TO sightline_app;

-- Your sessions: where each was opened, so that a user can tell them apart.
ALTER TABLE sessions ADD COLUMN client_ip text;
ALTER TABLE sessions ADD COLUMN user_agent text;

-- 15. API keys may expire.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;

-- 17. Sign-in failures that belong to no workspace (an unknown e-mail), and
-- second-factor failures and lockouts, in a platform-level log that the
-- server may only append to; operators read it with `sightline audit auth-log`.
CREATE TABLE auth_events (
    id          bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    event       text NOT NULL CHECK (event IN ('unknown_email', 'second_factor_failed', 'locked', 'refused_locked')),
    email       text NOT NULL CHECK (length(email) <= 320),
    ip          text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER auth_events_append_only
    BEFORE UPDATE OR DELETE ON auth_events
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER auth_events_no_truncate
    BEFORE TRUNCATE ON auth_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
GRANT INSERT ON auth_events TO sightline_app;
GRANT USAGE ON SEQUENCE auth_events_id_seq TO sightline_app;
