-- Views that run with their caller's rights (security_invoker) need PostgreSQL 15.
DO $$ BEGIN
    IF current_setting('server_version_num')::int < 150000 THEN
        RAISE EXCEPTION 'Sightline needs PostgreSQL 15 or later (Aurora PostgreSQL 15 or later); this server is %',
            current_setting('server_version');
    END IF;
END $$;

-- What the web UI needs: decisions on findings (approve, dismiss, snooze),
-- saved console queries, each resource's history across scans, the indexes
-- the explorer and the inbox page by, and the SQL console's own login role
-- that can read only the documented inventory views.

-- Every decision ever taken on a finding; a finding points at its current one.
CREATE TABLE decisions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    finding_id       uuid NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('approved', 'dismissed', 'snoozed')),
    actor            text NOT NULL,
    -- Why it was dismissed (required) or snoozed (optional).
    reason           text CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 2000),
    snoozed_until    timestamptz,
    -- The evidence the decision was taken on: an approval binds to it.
    evidence_sha256  text NOT NULL CHECK (evidence_sha256 ~ '^[0-9a-f]{64}$'),
    -- The change plan of an approval: a script a human runs, never Sightline.
    plan             text,
    plan_sha256      text CHECK (plan_sha256 IS NULL OR plan_sha256 ~ '^[0-9a-f]{64}$'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- The scan that saw an approved finding fixed.
    resolved_scan_id uuid REFERENCES scans (id) ON DELETE SET NULL,
    CHECK (kind <> 'dismissed' OR reason IS NOT NULL),
    CHECK (kind <> 'snoozed' OR snoozed_until IS NOT NULL),
    CHECK (kind <> 'approved' OR (plan IS NOT NULL AND plan_sha256 IS NOT NULL))
);
CREATE INDEX decisions_finding ON decisions (finding_id, created_at DESC);

-- The current decision, copied onto the finding so the inbox filters without a join.
ALTER TABLE findings ADD COLUMN decision_id uuid REFERENCES decisions (id) ON DELETE SET NULL;
ALTER TABLE findings ADD COLUMN decision text CHECK (decision IN ('approved', 'dismissed', 'snoozed'));
ALTER TABLE findings ADD COLUMN snoozed_until timestamptz;

-- Parallel workers may evaluate the tenant filter (settings reach them).
ALTER FUNCTION app_workspace() PARALLEL SAFE;

-- The state the inbox shows: what scans say, then what people decided.
-- A snooze that has run out is open again without anyone touching the row.
CREATE FUNCTION finding_state(status text, decision text, snoozed_until timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN status = 'resolved' THEN 'resolved'
        WHEN decision IS NULL THEN 'open'
        WHEN decision = 'snoozed' AND snoozed_until <= now() THEN 'open'
        ELSE decision
    END
$$;

CREATE TABLE saved_queries (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    sql          text NOT NULL CHECK (length(sql) BETWEEN 1 AND 20000),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);

-- A resource's history: one row when a scan first sees it, sees it changed,
-- no longer sees it, or sees it again. Unchanged rescans add nothing.
CREATE TABLE resource_history (
    id           bigserial PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    arn          text NOT NULL,
    scan_id      uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    observed_at  timestamptz NOT NULL,
    change       text NOT NULL CHECK (change IN ('appeared', 'changed', 'gone', 'returned')),
    -- The redacted attributes and tags as that scan saw them (NULL when gone).
    attributes   jsonb,
    tags         jsonb
);
CREATE INDEX resource_history_arn ON resource_history (account_id, arn, observed_at);

ALTER TABLE resources ADD COLUMN content_md5 text;
-- Rows already there are what the last scan saw: no spurious "changed" next scan.
UPDATE resources SET content_md5 = md5(tags::text || attributes::text);
-- Estimated monthly savings of the findings a scan reported, for the trend.
ALTER TABLE scans ADD COLUMN monthly_savings numeric(14, 2) NOT NULL DEFAULT 0;
ALTER TABLE resources ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX resources_id ON resources (id);

-- The explorer pages by (resource_type, arn, account) within a workspace; the
-- inbox by (first_seen, id), which scans never change; resource pages count
-- open findings by ARN. No GIN
-- index on tags: under row-level security the planner may not use one for
-- @>, which is not leakproof (docs/benchmarks.md).
CREATE INDEX resources_keyset ON resources (workspace_id, resource_type, arn, account_id);
CREATE INDEX resources_region ON resources (workspace_id, region);
CREATE INDEX findings_keyset ON findings (workspace_id, first_seen DESC, id);
CREATE INDEX findings_resource ON findings (account_id, resource_arn) WHERE status = 'open';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['decisions', 'saved_queries', 'resource_history']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I TO sightline_app
                        USING (workspace_id = app_workspace()) WITH CHECK (workspace_id = app_workspace())', t);
        EXECUTE format('CREATE POLICY system ON %I TO sightline_worker USING (true) WITH CHECK (true)', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT ON decisions TO sightline_app;
-- The app records decisions; it changes no other column of a finding.
GRANT UPDATE (decision_id, decision, snoozed_until) ON findings TO sightline_app;
GRANT SELECT, INSERT, DELETE ON saved_queries TO sightline_app;
GRANT SELECT ON resource_history TO sightline_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON decisions, saved_queries, resource_history TO sightline_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sightline_app, sightline_worker;

-- The SQL console. It logs in as sightline_console, which may SELECT the
-- views of the `inventory` schema and nothing else of Sightline's: the views
-- run with the caller's rights (security_invoker), so row-level security
-- filters them to the workspace the server bound the connection to.
DO $$ BEGIN
    CREATE ROLE sightline_console LOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

CREATE SCHEMA inventory;

CREATE VIEW inventory.accounts WITH (security_invoker = true) AS
SELECT a.aws_account_id AS account, a.name, a.regions, a.source, a.created_at
FROM public.accounts a;

CREATE VIEW inventory.resources WITH (security_invoker = true) AS
SELECT r.arn, r.resource_type AS type, r.resource_id, a.aws_account_id AS account, r.region, r.name,
       r.tags, r.attributes, r.first_seen, r.last_seen, r.gone_at
FROM public.resources r JOIN public.accounts a ON a.id = r.account_id;

CREATE VIEW inventory.findings WITH (security_invoker = true) AS
SELECT f.id, f.check_id, f.title, f.severity, f.category, public.finding_state(f.status, f.decision, f.snoozed_until) AS status,
       f.resource_arn, f.resource_type, a.aws_account_id AS account, f.region, f.message,
       f.monthly_savings, f.evidence_sha256, f.first_seen, f.last_seen, f.resolved_at
FROM public.findings f JOIN public.accounts a ON a.id = f.account_id;

CREATE VIEW inventory.scans WITH (security_invoker = true) AS
SELECT s.id, a.aws_account_id AS account, s.status, s.started_at, s.finished_at, s.regions, s.api_calls,
       s.resources, s.gaps, s.findings_open, s.findings_new, s.findings_resolved, s.findings_regressed
FROM public.scans s JOIN public.accounts a ON a.id = s.account_id;

REVOKE ALL ON SCHEMA inventory FROM PUBLIC;
GRANT USAGE ON SCHEMA inventory TO sightline_console;
GRANT SELECT ON inventory.accounts, inventory.resources, inventory.findings, inventory.scans TO sightline_console;
-- Which workspace a console connection may read is not a setting the
-- connection could change (app.workspace_id is one any role may set): the
-- server, as sightline_app inside the workspace's own transaction, binds the
-- console connection's backend pid to the workspace before each query and
-- unbinds it after. The console role cannot read or write the bindings; it
-- can only ask, through console_workspace(), which workspace it is bound to.
-- A binding names the connection by pid and start time, so that a pid the
-- operating system hands to a later connection does not inherit it.
CREATE TABLE console_bindings (
    pid           integer PRIMARY KEY,
    backend_start timestamptz NOT NULL,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    bound_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE console_bindings ENABLE ROW LEVEL SECURITY;
ALTER TABLE console_bindings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON console_bindings TO sightline_app
    USING (workspace_id = app_workspace()) WITH CHECK (workspace_id = app_workspace());
CREATE POLICY system ON console_bindings TO sightline_worker USING (true) WITH CHECK (true);
-- The two functions below run as their owner (the migrating role).
DO $$ BEGIN
    EXECUTE format('CREATE POLICY definer ON console_bindings TO %I USING (true) WITH CHECK (true)', current_user);
END $$;
GRANT SELECT, DELETE ON console_bindings TO sightline_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON console_bindings TO sightline_worker;

-- Bind a console connection to the caller's own workspace (and no other),
-- replacing whatever binding its pid had, whichever workspace that was.
CREATE FUNCTION bind_console(p_pid integer, p_started timestamptz, p_workspace uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF p_workspace IS DISTINCT FROM app_workspace() THEN
        RAISE EXCEPTION 'a console connection can only be bound to the transaction''s own workspace'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM public.console_bindings WHERE pid = p_pid;
    INSERT INTO public.console_bindings (pid, backend_start, workspace_id) VALUES (p_pid, p_started, p_workspace);
END;
$$;
REVOKE ALL ON FUNCTION bind_console(integer, timestamptz, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bind_console(integer, timestamptz, uuid) TO sightline_app;

CREATE FUNCTION console_workspace() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT b.workspace_id FROM public.console_bindings b
    WHERE b.pid = pg_backend_pid()
      AND b.backend_start = (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())
$$;
REVOKE ALL ON FUNCTION console_workspace() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console_workspace() TO sightline_console;

-- What the views read, under the console's own row-level security policy.
GRANT SELECT ON accounts, resources, findings, scans TO sightline_console;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounts', 'resources', 'findings', 'scans']
    LOOP
        EXECUTE format('CREATE POLICY console ON %I FOR SELECT TO sightline_console USING (workspace_id = console_workspace())', t);
    END LOOP;
END $$;
-- The console never needs to create anything, anywhere.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
