-- The ARN's trigram index covers only what follows the ARN's prefix
-- (`arn:partition:service:region:account:`), and the prefixes themselves,
-- a handful per account, are kept in a table of their own (issue 16).
--
-- Every ARN of an account, region and service shares its prefix, yet the
-- index on lower(arn) stored the prefix's trigrams again for every row:
-- 32 of a volume ARN's 48 entries. The index now holds arn_tail(arn), 16
-- entries for the same ARN: a scan's first write of 100,000 resources
-- takes about 7% less (`docs/benchmarks.md`, Bulk writes).
--
-- What free text matches does not change: a resource's label (its name and
-- id) or its ARN, each matching the pattern (`explorer.rs` rechecks
-- exactly that). How explorer_candidates finds every ARN match is argued
-- in the comment above it, and tested in `free_text.rs`.

-- What follows the ARN's first five fields, or the whole text when it has
-- fewer. Lower case is not needed: pg_trgm folds case itself.
CREATE FUNCTION arn_tail(arn text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.regexp_replace(arn, '^([^:]*:){5}', '');

-- The rest: arn_prefix(arn) || arn_tail(arn) = arn, by construction.
CREATE FUNCTION arn_prefix(arn text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.left(arn, pg_catalog.length(arn) - pg_catalog.length(public.arn_tail(arn)));

-- Every (account, type, region, ARN prefix) some resource has or had. Rows
-- are added by the triggers below, never removed but with their account:
-- a stale one costs a search a few rows read, never a wrong answer. Only
-- what arn_prefix can return is listed: the triggers skip a row that
-- starts with a listed prefix, so a listed `arn:` would keep every real
-- prefix of its account, type and region out. The account is named with
-- its workspace, as a scan names it: a row cannot list one workspace's
-- account under another, nor follow an account to another workspace.
CREATE TABLE resource_arn_prefixes (
    workspace_id  uuid NOT NULL,
    account_id    uuid NOT NULL,
    resource_type text NOT NULL,
    region        text NOT NULL,
    prefix        text NOT NULL CONSTRAINT resource_arn_prefixes_whole CHECK (prefix = arn_prefix(prefix)),
    PRIMARY KEY (account_id, resource_type, region, prefix),
    CONSTRAINT resource_arn_prefixes_account_fkey FOREIGN KEY (account_id, workspace_id)
        REFERENCES accounts (id, workspace_id) ON DELETE CASCADE
);
CREATE INDEX resource_arn_prefixes_workspace ON resource_arn_prefixes (workspace_id);

-- Written by whoever writes resources (the worker; the migrating role,
-- were a data migration to write them), as that role, so through its own
-- grants and policies. A row whose account, type and region already list a
-- prefix it starts with needs no regular expression: a prefix of five
-- fields that an ARN starts with is that ARN's prefix. (Computing every
-- row's prefix took 5 µs a row; this, 1 µs.) The new prefixes go in in
-- key order, so that two writers could not deadlock on them. The triggers
-- fire after the checks of the rows' scan (statement triggers fire in the
-- order of their names): a row naming no scan, or a deleted account's, is
-- refused by its scan's key, as before.
CREATE FUNCTION record_arn_prefixes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO public.resource_arn_prefixes (workspace_id, account_id, resource_type, region, prefix)
    SELECT DISTINCT n.workspace_id, n.account_id, n.resource_type, n.region, public.arn_prefix(n.arn)
    FROM new_rows n
    WHERE NOT EXISTS (
        SELECT 1 FROM public.resource_arn_prefixes x
        WHERE x.account_id = n.account_id AND x.resource_type = n.resource_type AND x.region = n.region
          AND x.prefix <> '' AND starts_with(n.arn, x.prefix)
    )
    ORDER BY 2, 3, 4, 5
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER resources_record_arn_prefixes_insert AFTER INSERT ON resources
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_arn_prefixes();
CREATE TRIGGER resources_record_arn_prefixes_update AFTER UPDATE ON resources
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_arn_prefixes();

-- Existing estates: the migrating role reads every resource through its
-- own policy (`definer`, 20261206000002), and the table has no row-level
-- security yet.
INSERT INTO resource_arn_prefixes (workspace_id, account_id, resource_type, region, prefix)
SELECT DISTINCT workspace_id, account_id, resource_type, region, arn_prefix(arn) FROM resources;

ALTER TABLE resource_arn_prefixes ENABLE ROW LEVEL SECURITY;
ALTER TABLE resource_arn_prefixes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON resource_arn_prefixes TO sightline_app
    USING (workspace_id = app_workspace()) WITH CHECK (workspace_id = app_workspace());
CREATE POLICY system ON resource_arn_prefixes TO sightline_worker USING (true) WITH CHECK (true);
-- explorer_candidates reads it as its owner, the migrating role, which
-- also writes it through the triggers if it ever writes resources.
DO $$
BEGIN
    EXECUTE format('CREATE POLICY definer ON resource_arn_prefixes FOR SELECT TO %I USING (true)', current_user);
    EXECUTE format('CREATE POLICY definer_insert ON resource_arn_prefixes FOR INSERT TO %I WITH CHECK (true)', current_user);
END $$;
GRANT SELECT ON resource_arn_prefixes TO sightline_app;
GRANT SELECT, INSERT ON resource_arn_prefixes TO sightline_worker;
ANALYZE resource_arn_prefixes;

-- Locks: as in 20261207000008, the new index is built under CREATE INDEX's
-- SHARE lock (reads go on, writes to resources wait) and the old one is
-- dropped last, whose ACCESS EXCLUSIVE lock is held from there to the
-- commit.
CREATE INDEX resources_text_arn_tail ON resources USING gin (arn_tail(arn) gin_trgm_ops);

-- Free text: the label's matches through its index, the ARN's as follows.
-- ARN = P || T, P = arn_prefix(arn), T = arn_tail(arn). When the pattern
-- matches the (lowered) ARN, either
--   a. P is empty, and T ILIKE '%' || pattern (the first arm); or
--   b. some element of the pattern matched P's last character, a colon:
--      a `:` (or `\:`), a `_`, or a `%` running on into T. Call what comes
--      up to that element the head and what follows the rest. The head
--      matched P whole (P ILIKE head), and the rest matched T, from its
--      start or, after a `%`, a suffix of it (T ILIKE '%' || rest); or
--   c. every element but the trailing `%`s matched within P (P ILIKE
--      pattern || '%'): a head too.
-- Each boundary element gives an arm, T ILIKE '%' || rest, which the tail's
-- trigram index answers, or, when the rest has no run of three letters or
-- digits (no trigram: the index would read every row), a head, which
-- resource_arn_prefixes answers: it lists every prefix with the account,
-- type and region of the rows that have it, and the rows of those are
-- rechecked against the pattern. So are the arms beyond the ninth. A
-- pattern with no trigram at all, with more than 64 boundary elements, or
-- with a sigma (whose lower case ICU chooses from the letters around it,
-- across the colon) reads the workspace's rows instead, exactly (the walk:
-- the filter itself).
-- The two branches are disjoint (the second takes only rows no arm or
-- label found), so LIMIT stops early and nothing repeats; the second
-- reaches resources only through the listed prefixes (OFFSET 0 keeps the
-- planner from joining them any other way).
CREATE OR REPLACE FUNCTION explorer_candidates(p_tags jsonb, p_text text, p_limit integer) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    ws uuid := public.app_workspace();
    lim integer := least(greatest(coalesce(p_limit, 0), 0), 20001);
    chars text[];
    arms text[];
    heads text[];
    rest text;
    escaped boolean := false;
    boundary boolean;
    boundaries integer := 0;
    last_element integer;
    tags_clause text;
    walk text;
BEGIN
    IF ws IS NULL OR (p_tags IS NULL AND p_text IS NULL) THEN
        RETURN;
    END IF;
    IF p_tags IS NOT NULL AND jsonb_typeof(p_tags) <> 'object' THEN
        RAISE EXCEPTION 'explorer_candidates: tags must be a JSON object, found %', jsonb_typeof(p_tags)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_text ~ '(^|[^\\])(\\\\)*\\$' THEN
        RAISE EXCEPTION 'explorer_candidates: the pattern ends with an escape character'
            USING ERRCODE = 'invalid_escape_sequence';
    END IF;
    tags_clause := CASE WHEN p_tags IS NULL THEN '' ELSE ' AND r.tags @> $2' END;
    -- The filter itself, over the workspace's rows.
    walk := 'SELECT r.id FROM public.resources r WHERE r.workspace_id = $1' || tags_clause
        || ' AND ((coalesce(r.name, '''') || '' '' || r.resource_id) ILIKE $3 OR lower(r.arn) ILIKE $3) LIMIT $4';
    IF p_text IS NULL THEN
        RETURN QUERY EXECUTE 'SELECT r.id FROM public.resources r WHERE r.workspace_id = $1' || tags_clause || ' LIMIT $4'
        USING ws, p_tags, p_text, lim;
        RETURN;
    END IF;
    IF p_text !~ '[[:alnum:]]{3}' OR p_text ~ '[Σσς]' THEN
        RETURN QUERY EXECUTE walk USING ws, p_tags, p_text, lim;
        RETURN;
    END IF;

    -- Case a, and c's head; then b's arms and heads. From the trailing `%`s
    -- on, every rest is all `%` (case c): the loop stops before them.
    arms := ARRAY[CASE WHEN left(p_text, 1) = '%' THEN p_text ELSE '%' || p_text END];
    heads := ARRAY[p_text || '%'];
    chars := string_to_array(p_text, NULL);
    last_element := length(rtrim(p_text, '%'));
    IF rtrim(p_text, '%') ~ '(^|[^\\])(\\\\)*\\$' THEN
        last_element := last_element + 1;  -- the first of them is escaped: a literal `%`
    END IF;
    FOR i IN 1 .. last_element - 1 LOOP
        IF escaped THEN
            escaped := false;
            boundary := chars[i] = ':';
        ELSIF chars[i] = '\' THEN
            escaped := true;
            boundary := false;
        ELSE
            boundary := chars[i] IN (':', '_', '%');
        END IF;
        IF boundary THEN
            boundaries := boundaries + 1;
            IF boundaries > 64 THEN
                RETURN QUERY EXECUTE walk USING ws, p_tags, p_text, lim;
                RETURN;
            END IF;
            rest := array_to_string(chars[i + 1 :], '');
            IF ('%' || rest) = ANY (arms) THEN
                CONTINUE;
            ELSIF rest ~ '[[:alnum:]]{3}' AND array_length(arms, 1) < 9 THEN
                arms := arms || ('%' || rest);
            ELSE
                heads := heads || array_to_string(chars[1 : i], '');
            END IF;
        END IF;
    END LOOP;

    RETURN QUERY EXECUTE
        'SELECT r.id FROM public.resources r WHERE r.workspace_id = $1' || tags_clause
        || ' AND ((coalesce(r.name, '''') || '' '' || r.resource_id) ILIKE $3 OR public.arn_tail(r.arn) ILIKE ANY ($5))'
        || ' AND ((coalesce(r.name, '''') || '' '' || r.resource_id) ILIKE $3 OR lower(r.arn) ILIKE $3)'
        || ' UNION ALL SELECT r.id FROM (SELECT DISTINCT x.account_id, x.resource_type, x.region'
        || '     FROM public.resource_arn_prefixes x WHERE x.workspace_id = $1 AND x.prefix ILIKE ANY ($6) OFFSET 0) x'
        || ' CROSS JOIN LATERAL (SELECT r.id FROM public.resources r'
        || '     WHERE r.workspace_id = $1 AND r.account_id = x.account_id'
        || '       AND r.resource_type = x.resource_type AND r.region = x.region'
        || '       AND lower(r.arn) ILIKE $3' || tags_clause
        || '       AND NOT coalesce((coalesce(r.name, '''') || '' '' || r.resource_id) ILIKE $3'
        || '           OR public.arn_tail(r.arn) ILIKE ANY ($5), false) OFFSET 0) r'
        || ' LIMIT $4'
    USING ws, p_tags, p_text, lim, arms, heads;
END;
$$;

-- The planner's statistics of the new expression (see 20261207000008).
ANALYZE resources;

DROP INDEX resources_text_arn;
