-- A finding's changes name it through a check once per statement, as a
-- scan's rows name their scan since 20261207000010 (issue 16): the last
-- row-by-row key of a scan's write, from each change to its finding, was
-- about 3% of all samples in a profile of a 100,000-resource first write
-- (`docs/benchmarks.md`), once the keys to the scan were gone.
--
-- The rule is the key's, under its name (`scan_finding_changes_finding_id_fkey`),
-- and one stronger: a change must name an existing finding of its own
-- workspace (the key held the id alone). The findings are locked FOR KEY
-- SHARE until the writer commits, as the key locked them; a finding's
-- deletion deletes its changes, once per statement; a finding's id cannot
-- change (20261207000010); `TRUNCATE findings CASCADE` empties the changes.
--
-- The check is made when a change is written; a finding's account and
-- workspace cannot change afterwards (the guard on its id, 20261207000010,
-- now covers them: the write never changes them), so a change never comes
-- to name another workspace's finding.
--
-- The check runs with the writer's rights (the worker writes changes; no
-- other role may), the cascade as this migration's role, with the policies
-- 20261207000010 gave it on scan_finding_changes.

ALTER TABLE scan_finding_changes DROP CONSTRAINT scan_finding_changes_finding_id_fkey;

-- TG_ARGV: the constraint's name, and the column naming the finding (always
-- finding_id: the second argument is there for the schema test that holds
-- every reference to an index).
CREATE FUNCTION check_finding_reference() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    missing record;
BEGIN
    -- A statement of no rows fires this too, and needs no lock.
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- One index probe per distinct finding, whatever the planner guesses
    -- of the transition table.
    FOR missing IN
        SELECT n.finding_id, n.workspace_id
        FROM (SELECT DISTINCT finding_id, workspace_id FROM new_rows) n
        LEFT JOIN LATERAL (
            SELECT 1 AS found FROM public.findings f
            WHERE f.id = n.finding_id AND f.workspace_id = n.workspace_id
            FOR KEY SHARE
        ) f ON true
        WHERE f.found IS NULL
        LIMIT 1
    LOOP
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0],
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
                  DETAIL = format('Key (finding_id, workspace_id)=(%s, %s) is not present in table "findings".',
                                  missing.finding_id, missing.workspace_id);
    END LOOP;
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION check_finding_reference() FROM PUBLIC;

-- Named to fire after the scan's check (triggers of one event fire in name
-- order): a change naming another workspace's scan is refused under the
-- scan key's name, as before.
CREATE TRIGGER scan_finding_changes_to_finding_insert AFTER INSERT ON scan_finding_changes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_finding_reference('scan_finding_changes_finding_id_fkey', 'finding_id');
CREATE TRIGGER scan_finding_changes_to_finding_update AFTER UPDATE ON scan_finding_changes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION check_finding_reference('scan_finding_changes_finding_id_fkey', 'finding_id');

-- As delete_scans_rows (20261207000010), and at READ COMMITTED only for
-- the same reason.
CREATE FUNCTION delete_findings_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    gone uuid[] := ARRAY(SELECT id FROM deleted_findings);
BEGIN
    IF cardinality(gone) = 0 THEN
        RETURN NULL;
    END IF;
    PERFORM require_read_committed('findings');
    DELETE FROM public.scan_finding_changes WHERE finding_id = ANY (gone);
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION delete_findings_changes() FROM PUBLIC;
CREATE TRIGGER findings_delete_changes AFTER DELETE ON findings
    REFERENCING OLD TABLE AS deleted_findings FOR EACH STATEMENT
    EXECUTE FUNCTION delete_findings_changes();

-- TRUNCATE fires no delete trigger; `TRUNCATE scans CASCADE` reaches the
-- findings through their resolving scan's key, and with them this.
CREATE FUNCTION truncate_findings_changes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM truncate_or_delete('public.scan_finding_changes');
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION truncate_findings_changes() FROM PUBLIC;
CREATE TRIGGER findings_truncate_changes AFTER TRUNCATE ON findings
    FOR EACH STATEMENT EXECUTE FUNCTION truncate_findings_changes();

DROP TRIGGER zz_findings_id_unchanged ON findings;
CREATE TRIGGER zz_findings_key_unchanged BEFORE UPDATE ON findings
    FOR EACH ROW
    WHEN ((OLD.id, OLD.account_id, OLD.workspace_id) IS DISTINCT FROM (NEW.id, NEW.account_id, NEW.workspace_id))
    EXECUTE FUNCTION refuse_key_change('a finding''s id, account and workspace');
