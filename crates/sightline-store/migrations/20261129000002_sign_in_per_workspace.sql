-- Account security, second review: sign-in per workspace, accounts scanned
-- with the worker's own credentials only when an operator said so, the
-- worker's grants on workspaces, and the current key-encryption key.

-- 1. An account is scanned with the worker's own credentials only when the
-- operator registered it so (`own_credentials`, from the CLI); otherwise a
-- role-less account is refused by the worker. Role-less rows from before
-- this release cannot say who added them: they are not trusted, and their
-- schedule stops until an operator registers them again.
ALTER TABLE accounts ADD COLUMN own_credentials boolean NOT NULL DEFAULT false;
ALTER TABLE accounts ADD CONSTRAINT accounts_own_credentials_have_no_role
    CHECK (NOT (own_credentials AND role_arn IS NOT NULL));
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
UPDATE accounts SET schedule_interval = NULL, next_scan_at = NULL WHERE role_arn IS NULL;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
-- The server adds accounts only with a monitoring role, never as its own.
ALTER POLICY server_needs_role_arn ON accounts
    WITH CHECK (role_arn IS NOT NULL AND NOT own_credentials);

-- 2. Of a workspace, the worker changes only what setup keeps in step with
-- the stack.
REVOKE UPDATE, DELETE, TRUNCATE ON workspaces FROM sightline_worker;
GRANT UPDATE (name, external_id, member_role_name) ON workspaces TO sightline_worker;

-- 3. A sign-in names its workspace (or the deployment has one), so a
-- password is only ever checked against one user, and nothing about another
-- workspace's users (their existence, their lockout) can change what a
-- sign-in answers.
DROP POLICY login ON users;
CREATE POLICY login ON users FOR SELECT TO sightline_app
    USING (email = current_setting('app.login_email', true)
           AND workspace_id = nullif(current_setting('app.login_workspace', true), '')::uuid);

-- The workspace a sign-in is for: the one with this name, or, when no name
-- is given, the deployment's only workspace. NULL when there is no such
-- workspace or the deployment has several and none was named. What it
-- answers depends on the workspaces alone, never on who signs in.
CREATE FUNCTION sign_in_workspace(p_name text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT CASE
        WHEN p_name IS NOT NULL THEN (SELECT w.id FROM public.workspaces w WHERE w.name = p_name)
        WHEN (SELECT count(*) FROM public.workspaces) = 1 THEN (SELECT w.id FROM public.workspaces w)
    END
$$;
REVOKE ALL ON FUNCTION sign_in_workspace(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sign_in_workspace(text) TO sightline_app;
-- Whether a sign-in must name its workspace: the deployment has several.
CREATE FUNCTION sign_in_needs_workspace() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT (SELECT count(*) FROM public.workspaces) > 1
$$;
REVOKE ALL ON FUNCTION sign_in_needs_workspace() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sign_in_needs_workspace() TO sightline_app;
-- The functions run as the migrating role, which FORCEd row-level security
-- filters like anyone else unless a policy lets it read the workspaces.
DO $$ BEGIN
    EXECUTE format('CREATE POLICY definer ON workspaces FOR SELECT TO %I USING (true)', current_user);
END $$;

-- 4. The key-encryption key data keys are wrapped with now. `sightline keys
-- rotate` sets it; a server still running with the previous key refuses to
-- start, and to wrap a new data key with it (the key would be lost at its
-- restart).
CREATE TABLE kek_current (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    kek_id    text NOT NULL,
    since     timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON kek_current TO sightline_app;
