-- A scan's rows are checked against their scan once per statement, not
-- once per row (issue 16). The four keys from a scan's resources, their
-- history, its findings and its findings' changes to the scan that wrote
-- them were row-by-row foreign keys: for every row PostgreSQL queued an
-- event and, at the statement's end, planned and ran a lookup of the same
-- scan, locking it again. A profile of a 100,000-resource first write put
-- a fifth of the database's time there (`docs/benchmarks.md`). Every row of
-- one statement names the same scan, so one lookup per statement checks
-- them all.
--
-- The rule is the keys' rule, under the keys' names:
-- * A row inserted, or updated so that its scan, account or workspace
--   changes, must name an existing scan of its own account and workspace
--   (of its workspace, for a change). Otherwise the statement fails with
--   foreign_key_violation and the constraint's old name
--   (`resources_last_scan_fkey` and so on), as before.
-- * The scan is locked FOR KEY SHARE until the writer commits, as a key
--   check locks it: a scan's deletion waits for the write, and a write
--   after a deletion sees the scan gone and fails.
-- * Deleting scans deletes the rows that name them, as ON DELETE CASCADE
--   did: once per statement, through the indexes on the scan columns.
-- * A scan's id, account and workspace never change (a key could change
--   only while unreferenced), nor the id of a row that names a scan; an
--   update that changes them is refused.
-- * `TRUNCATE scans CASCADE` empties the four tables too.
--
-- Two differences from a key remain: the tables' owner may disable these
-- triggers (disabling a key's needs a superuser), and they check what is
-- written, never rows already there.
--
-- The check runs with the writer's rights: the worker sees every scan; the
-- application role changes findings' decisions, never their scan, so its
-- updates look nothing up. The cascade runs as this migration's role, as a
-- key's cascade does (a trigger function cannot be called directly): it
-- deletes only rows naming the scans the statement deleted. FORCEd
-- row-level security filters that role too, so it gets its own policies on
-- the four tables, which no other function it owns reads.
--
-- The key from a change to its finding is replaced the same way in
-- 20261207000011.
--
-- Dropping a key and creating a trigger take a brief exclusive lock on the
-- tables; no row is read or rewritten.

ALTER TABLE resources DROP CONSTRAINT resources_last_scan_fkey;
ALTER TABLE resource_history DROP CONSTRAINT resource_history_scan_fkey;
ALTER TABLE findings DROP CONSTRAINT findings_last_scan_fkey;
ALTER TABLE scan_finding_changes DROP CONSTRAINT scan_finding_changes_scan_fkey;

-- TG_ARGV: the constraint's name, the column naming the scan, the row's own
-- id column ('' where the table has none), and whether the row names its
-- account ('account') or only its workspace.
CREATE FUNCTION check_scan_reference() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    constraint_name text := TG_ARGV[0];
    scan_column text := TG_ARGV[1];
    id_column text := TG_ARGV[2];
    with_account boolean := TG_ARGV[3] = 'account';
    keys text;
    scan_ids uuid[];
    account_ids uuid[];
    workspace_ids uuid[];
    missing record;
BEGIN
    IF TG_OP = 'UPDATE' AND id_column <> '' THEN
        -- Only rows whose reference changed, as a key checks an update: an
        -- (id, reference) that the new rows hold and the old ones do not
        -- (ids cannot change, below). Grouped, not joined: the planner
        -- knows nothing of a transition table, and took a nested loop over
        -- the two, quadratic in the rows an update touches.
        keys := format(
            'SELECT DISTINCT scan_id, account_id, workspace_id FROM (
                 SELECT scan_id, account_id, workspace_id FROM (
                     SELECT n.%1$I AS id, n.%2$I AS scan_id, %3$s AS account_id, n.workspace_id, true AS is_new FROM new_rows n
                     UNION ALL
                     SELECT o.%1$I, o.%2$I, %4$s, o.workspace_id, false FROM old_rows o
                 ) r
                 GROUP BY id, scan_id, account_id, workspace_id
                 HAVING bool_and(is_new)
             ) changed',
            id_column, scan_column,
            CASE WHEN with_account THEN 'n.account_id' ELSE 'NULL::uuid' END,
            CASE WHEN with_account THEN 'o.account_id' ELSE 'NULL::uuid' END);
    ELSE
        keys := format('SELECT DISTINCT n.%I AS scan_id, %s AS account_id, n.workspace_id FROM new_rows n',
                       scan_column, CASE WHEN with_account THEN 'n.account_id' ELSE 'NULL::uuid' END);
    END IF;
    -- The keys, computed once. A statement that wrote no reference (one
    -- that changed only a finding's decision, say, which the application
    -- role may do, or any statement of no rows, which fires this too) reads
    -- no scan: locking one takes rights on scans that such a writer lacks.
    EXECUTE 'SELECT array_agg(scan_id), array_agg(account_id), array_agg(workspace_id) FROM (' || keys || ') k'
        INTO scan_ids, account_ids, workspace_ids;
    IF scan_ids IS NULL THEN
        RETURN NULL;
    END IF;
    FOR missing IN
        SELECT k.scan_id, k.account_id, k.workspace_id
        FROM unnest(scan_ids, account_ids, workspace_ids) AS k(scan_id, account_id, workspace_id)
        LEFT JOIN LATERAL (
            SELECT 1 AS found FROM public.scans s
            WHERE s.id = k.scan_id AND s.workspace_id = k.workspace_id
              AND (k.account_id IS NULL OR s.account_id = k.account_id)
            FOR KEY SHARE
        ) s ON true
        WHERE s.found IS NULL
        LIMIT 1
    LOOP
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, constraint_name
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = constraint_name,
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
                  DETAIL = format('Key (%s, %sworkspace_id)=(%s, %s%s) is not present in table "scans".',
                                  scan_column, CASE WHEN missing.account_id IS NULL THEN '' ELSE 'account_id, ' END,
                                  missing.scan_id,
                                  CASE WHEN missing.account_id IS NULL THEN '' ELSE missing.account_id || ', ' END,
                                  missing.workspace_id);
    END LOOP;
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION check_scan_reference() FROM PUBLIC;

CREATE TRIGGER resources_last_scan_insert AFTER INSERT ON resources
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('resources_last_scan_fkey', 'last_scan_id', 'id', 'account');
CREATE TRIGGER resources_last_scan_update AFTER UPDATE ON resources
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('resources_last_scan_fkey', 'last_scan_id', 'id', 'account');
CREATE TRIGGER resource_history_scan_insert AFTER INSERT ON resource_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('resource_history_scan_fkey', 'scan_id', 'id', 'account');
CREATE TRIGGER resource_history_scan_update AFTER UPDATE ON resource_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('resource_history_scan_fkey', 'scan_id', 'id', 'account');
CREATE TRIGGER findings_last_scan_insert AFTER INSERT ON findings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('findings_last_scan_fkey', 'last_scan_id', 'id', 'account');
CREATE TRIGGER findings_last_scan_update AFTER UPDATE ON findings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('findings_last_scan_fkey', 'last_scan_id', 'id', 'account');
-- A change has no id of its own (its key is its scan and finding), and no
-- statement updates one: an update checks every row it wrote.
CREATE TRIGGER scan_finding_changes_scan_insert AFTER INSERT ON scan_finding_changes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('scan_finding_changes_scan_fkey', 'scan_id', '', 'workspace');
CREATE TRIGGER scan_finding_changes_scan_update AFTER UPDATE ON scan_finding_changes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_scan_reference('scan_finding_changes_scan_fkey', 'scan_id', '', 'workspace');

-- A row's id never changes: the check above tells a row whose reference
-- changed by its id, and a statement that swapped two rows' ids and
-- references would otherwise move a row to another scan unchecked. Nor do a
-- scan's id, account and workspace (a key could change only while nothing
-- named it). The guards test every updated row, not only updates naming
-- the columns, so that no earlier BEFORE trigger can change them unseen
-- (these fire after any trigger whose name sorts before `zz_`; the owner,
-- who alone can add a trigger, could still name one to fire later, as it
-- could disable these). A data migration that rewrote ids would have to
-- disable them.
CREATE FUNCTION refuse_key_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    RAISE EXCEPTION '% cannot change (% %)', TG_ARGV[0], TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'restrict_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
END;
$$;
REVOKE ALL ON FUNCTION refuse_key_change() FROM PUBLIC;
CREATE TRIGGER zz_scans_key_unchanged BEFORE UPDATE ON scans
    FOR EACH ROW
    WHEN ((OLD.id, OLD.account_id, OLD.workspace_id) IS DISTINCT FROM (NEW.id, NEW.account_id, NEW.workspace_id))
    EXECUTE FUNCTION refuse_key_change('a scan''s id, account and workspace');
CREATE TRIGGER zz_resources_id_unchanged BEFORE UPDATE ON resources
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION refuse_key_change('a row''s id');
CREATE TRIGGER zz_resource_history_id_unchanged BEFORE UPDATE ON resource_history
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION refuse_key_change('a row''s id');
CREATE TRIGGER zz_findings_id_unchanged BEFORE UPDATE ON findings
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION refuse_key_change('a row''s id');

-- The deletion's own snapshot would miss rows that a writer commits while
-- the deletion waits for its lock on the scan, so it runs at READ COMMITTED
-- only, where each statement below reads what is committed when it starts
-- (a key's cascade rechecks against the latest snapshot for the same
-- reason).
CREATE FUNCTION require_read_committed(p_what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION '% can be deleted only at READ COMMITTED isolation, found %',
            p_what, upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'feature_not_supported';
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION require_read_committed(text) FROM PUBLIC;

CREATE FUNCTION delete_scans_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    gone uuid[] := ARRAY(SELECT id FROM deleted_scans);
BEGIN
    IF cardinality(gone) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM require_read_committed('scans');
    -- = ANY of an array, so that each is an index scan whatever the
    -- planner guesses of the transition table.
    DELETE FROM public.scan_finding_changes WHERE scan_id = ANY (gone);
    DELETE FROM public.findings WHERE last_scan_id = ANY (gone);
    DELETE FROM public.resource_history WHERE scan_id = ANY (gone);
    DELETE FROM public.resources WHERE last_scan_id = ANY (gone);
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION delete_scans_rows() FROM PUBLIC;
CREATE TRIGGER scans_delete_rows AFTER DELETE ON scans
    REFERENCING OLD TABLE AS deleted_scans FOR EACH STATEMENT
    EXECUTE FUNCTION delete_scans_rows();

-- A table the TRUNCATE that fired a trigger names itself (`TRUNCATE scans,
-- resources CASCADE`) is in use until that statement ends, and is being
-- emptied by it: such a table, or one an open cursor of the session reads,
-- is emptied by DELETE instead.
CREATE FUNCTION truncate_or_delete(p_table regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    EXECUTE format('TRUNCATE %s', p_table);
EXCEPTION WHEN object_in_use THEN
    EXECUTE format('DELETE FROM %s', p_table);
END;
$$;
REVOKE ALL ON FUNCTION truncate_or_delete(regclass) FROM PUBLIC;

-- TRUNCATE fires no delete trigger. `TRUNCATE scans CASCADE` (the owner's
-- alone: no application role may truncate) reaches the findings through
-- their resolving scan's key, and the findings' own trigger
-- (20261207000011) their changes; this takes the resources and their
-- history, which no key reaches.
CREATE FUNCTION truncate_scans_rows() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM truncate_or_delete('public.resources');
    PERFORM truncate_or_delete('public.resource_history');
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION truncate_scans_rows() FROM PUBLIC;
CREATE TRIGGER scans_truncate_rows AFTER TRUNCATE ON scans
    FOR EACH STATEMENT EXECUTE FUNCTION truncate_scans_rows();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['resources', 'resource_history', 'findings', 'scan_finding_changes'] LOOP
        EXECUTE format('CREATE POLICY scan_cascade ON %I FOR DELETE TO %I USING (true)', t, current_user);
    END LOOP;
    -- resources has its SELECT policy for this role already (20261206000002).
    FOREACH t IN ARRAY ARRAY['resource_history', 'findings', 'scan_finding_changes'] LOOP
        EXECUTE format('CREATE POLICY scan_cascade_read ON %I FOR SELECT TO %I USING (true)', t, current_user);
    END LOOP;
END $$;
