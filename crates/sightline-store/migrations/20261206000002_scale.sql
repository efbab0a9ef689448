-- Pages at the scale of an Organization (issue 16).
--
-- Row-level security lets the planner use an index for a condition only when
-- its operator is leakproof: equality and ranges on text and uuid are, ILIKE
-- and jsonb @> are not. So:
--   * counts the explorer's facets and the overview need are summaries
--     written with each scan (resource_facets, scan_open_counts), read by
--     equality under the application role's own policy;
--   * the two conditions that need a GIN index (free text, tag value) are
--     answered by explorer_candidates(), a SECURITY DEFINER function bound to
--     app_workspace(), the same setting the tenant policy reads, and never to
--     a parameter; its result is then read through the policy again.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The text free-text search matches, indexed for ILIKE '%...%'.
CREATE INDEX resources_text ON resources
    USING gin ((coalesce(name, '') || ' ' || resource_id || ' ' || arn) gin_trgm_ops);
CREATE INDEX resources_tags ON resources USING gin (tags jsonb_path_ops);
-- A search within a region walks that region's rows in the explorer's own
-- order (type, ARN, account); the ARN starts with the region, so walking the
-- whole keyset for one region reads every region sorted before it first.
DROP INDEX resources_region;
CREATE INDEX resources_region_keyset ON resources (workspace_id, region, resource_type, arn, account_id);
-- resources_keyset (workspace_id, resource_type, ...) serves what this did.
DROP INDEX resources_workspace_type;

-- The inbox pages by (first_seen DESC, id DESC): the index must say DESC for
-- both, or the planner sorts every finding of the workspace.
DROP INDEX findings_keyset;
CREATE INDEX findings_inbox ON findings (workspace_id, first_seen DESC, id DESC);
CREATE INDEX findings_check ON findings (workspace_id, check_id, first_seen DESC, id DESC);
-- Findings someone decided on that scans still see: what the overview
-- subtracts from the per-scan counts.
CREATE INDEX findings_decided ON findings (workspace_id) WHERE status = 'open' AND decision IS NOT NULL;

-- A scan diff reads what moved, not the finding that stayed open (most rows).
CREATE INDEX scan_finding_changes_moves ON scan_finding_changes (scan_id, finding_id) WHERE change <> 'still_open';

-- The explorer's facet counts, per account, rewritten whenever a scan of the
-- account is saved. One row per cell (type, region, state) with no tag; one
-- per cell and tag key (tag_value NULL); one per cell and tag pair, for the
-- keys with at most 100 distinct values in the account (values_counted on
-- the key's rows says whether its pairs are here).
CREATE TABLE resource_facets (
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    resource_type  text NOT NULL,
    region         text NOT NULL,
    state          text,
    tag_key        text,
    tag_value      text,
    values_counted boolean,
    resources      bigint NOT NULL CHECK (resources > 0),
    CHECK (tag_value IS NULL OR tag_key IS NOT NULL),
    CHECK ((values_counted IS NOT NULL) = (tag_key IS NOT NULL AND tag_value IS NULL))
);
CREATE INDEX resource_facets_lookup ON resource_facets (workspace_id, tag_key, tag_value);
CREATE INDEX resource_facets_account ON resource_facets (account_id);

-- Open findings by severity and category after each saved scan, as the
-- findings table held them when the scan committed.
CREATE TABLE scan_open_counts (
    scan_id         uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    severity        text NOT NULL,
    category        text NOT NULL,
    findings        bigint NOT NULL,
    monthly_savings numeric(14, 2) NOT NULL,
    PRIMARY KEY (scan_id, severity, category)
);
CREATE INDEX scan_open_counts_workspace ON scan_open_counts (workspace_id);
CREATE INDEX scans_latest_saved ON scans (workspace_id, account_id, finished_at DESC)
    WHERE status IN ('succeeded', 'partial');

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['resource_facets', 'scan_open_counts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I TO sightline_app
            USING (workspace_id = app_workspace()) WITH CHECK (workspace_id = app_workspace())', t);
        EXECUTE format('CREATE POLICY system ON %I TO sightline_worker USING (true) WITH CHECK (true)', t);
    END LOOP;
END $$;
GRANT SELECT ON resource_facets, scan_open_counts TO sightline_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON resource_facets, scan_open_counts TO sightline_worker;

-- Rewrite an account's facet counts from its resources.
CREATE FUNCTION refresh_resource_facets(p_account uuid) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, public AS $$
    DELETE FROM public.resource_facets WHERE account_id = p_account;
    INSERT INTO public.resource_facets (workspace_id, account_id, resource_type, region, state, resources)
    SELECT workspace_id, account_id, resource_type, region, attributes ->> 'state', count(*)
    FROM public.resources WHERE account_id = p_account
    GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO public.resource_facets (workspace_id, account_id, resource_type, region, state, tag_key, tag_value,
                                        values_counted, resources)
    WITH pairs AS MATERIALIZED (
        SELECT r.workspace_id, r.account_id, r.resource_type, r.region, r.attributes ->> 'state' AS state, t.key, t.value
        FROM public.resources r, jsonb_each(CASE WHEN jsonb_typeof(r.tags) = 'object' THEN r.tags ELSE '{}' END) e,
             LATERAL (SELECT e.key, e.value #>> '{}' AS value) t
        -- Only string values: `tags @> {"k": "v"}` matches nothing else.
        WHERE r.account_id = p_account AND jsonb_typeof(e.value) = 'string'
    ),
    keys AS (SELECT key, count(DISTINCT value) <= 100 AS counted FROM pairs GROUP BY key)
    SELECT p.workspace_id, p.account_id, p.resource_type, p.region, p.state, p.key, NULL, k.counted, count(*)
    FROM pairs p JOIN keys k USING (key) GROUP BY 1, 2, 3, 4, 5, 6, 8
    UNION ALL
    SELECT p.workspace_id, p.account_id, p.resource_type, p.region, p.state, p.key, p.value, NULL, count(*)
    FROM pairs p JOIN keys k USING (key) WHERE k.counted GROUP BY 1, 2, 3, 4, 5, 6, 7;
$$;
REVOKE ALL ON FUNCTION refresh_resource_facets(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_resource_facets(uuid) TO sightline_worker;

-- Record a saved scan's open findings by severity and category.
CREATE FUNCTION record_scan_open_counts(p_scan uuid) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, public AS $$
    DELETE FROM public.scan_open_counts WHERE scan_id = p_scan;
    INSERT INTO public.scan_open_counts (scan_id, workspace_id, account_id, severity, category, findings, monthly_savings)
    SELECT s.id, s.workspace_id, s.account_id, f.severity, f.category, count(*), coalesce(sum(f.monthly_savings), 0)
    FROM public.scans s JOIN public.findings f ON f.account_id = s.account_id AND f.status = 'open'
    WHERE s.id = p_scan
    GROUP BY 1, 2, 3, 4, 5;
$$;
REVOKE ALL ON FUNCTION record_scan_open_counts(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_scan_open_counts(uuid) TO sightline_worker;

-- Existing estates: count what is there now.
-- (FORCEd row-level security would hide every row from a migrating role
-- that is not a superuser, Aurora's master among them.)
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE resource_facets NO FORCE ROW LEVEL SECURITY;
ALTER TABLE scan_open_counts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE resources NO FORCE ROW LEVEL SECURITY;
ALTER TABLE findings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE scans NO FORCE ROW LEVEL SECURITY;
SELECT refresh_resource_facets(r.account_id) FROM (SELECT DISTINCT account_id FROM resources) r;
SELECT record_scan_open_counts(l.id) FROM (
    SELECT DISTINCT ON (account_id) id FROM scans WHERE status IN ('succeeded', 'partial') AND finished_at IS NOT NULL
    ORDER BY account_id, finished_at DESC
) l;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE resource_facets FORCE ROW LEVEL SECURITY;
ALTER TABLE scan_open_counts FORCE ROW LEVEL SECURITY;
ALTER TABLE resources FORCE ROW LEVEL SECURITY;
ALTER TABLE findings FORCE ROW LEVEL SECURITY;
ALTER TABLE scans FORCE ROW LEVEL SECURITY;

-- The resources of the caller's workspace whose tags contain p_tags and whose
-- text (name, id, ARN) matches the ILIKE pattern p_text (either may be NULL,
-- not both), at most p_limit (capped at 20,001) of them. It runs as its
-- owner so that the GIN indexes can serve it, and reads the workspace from
-- app_workspace(), the setting the tenant policy reads: a caller can never
-- name another workspace, and with no workspace set it returns nothing.
CREATE FUNCTION explorer_candidates(p_tags jsonb, p_text text, p_limit integer) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    ws uuid := public.app_workspace();
BEGIN
    IF ws IS NULL OR (p_tags IS NULL AND p_text IS NULL) THEN
        RETURN;
    END IF;
    IF p_tags IS NOT NULL AND jsonb_typeof(p_tags) <> 'object' THEN
        RAISE EXCEPTION 'explorer_candidates: tags must be a JSON object, found %', jsonb_typeof(p_tags)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE
        'SELECT r.id FROM public.resources r WHERE r.workspace_id = $1'
        || CASE WHEN p_tags IS NULL THEN '' ELSE ' AND r.tags @> $2' END
        || CASE WHEN p_text IS NULL THEN '' ELSE
               ' AND (coalesce(r.name, '''') || '' '' || r.resource_id || '' '' || r.arn) ILIKE $3' END
        || ' LIMIT $4'
    USING ws, p_tags, p_text, least(greatest(coalesce(p_limit, 0), 0), 20001);
END;
$$;
REVOKE ALL ON FUNCTION explorer_candidates(jsonb, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION explorer_candidates(jsonb, text, integer) TO sightline_app;
-- The function runs as the migrating role, which FORCEd row-level security
-- filters like anyone else unless a policy lets it read.
DO $$ BEGIN
    EXECUTE format('CREATE POLICY definer ON resources FOR SELECT TO %I USING (true)', current_user);
END $$;
