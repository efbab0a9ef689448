-- A scan's resources, their history and its findings name their account
-- and workspace through the scan that wrote them: one foreign key each, to
-- the scan's own (id, account_id, workspace_id), in place of two (the
-- account's pair and the scan's id). Issue 16: the foreign-key checks were
-- a third of a 100,000-resource scan's write, eight per resource and its
-- finding; this leaves five. The rule is stronger, not weaker: a row can
-- no longer name a scan of another account, and the scan's own key to its
-- account's pair (20261207000001) still holds the row's account to its
-- workspace, so a row can never be shown to another tenant.
--
-- Deleting an account deletes its scans, and these rows go with the scan
-- that last wrote them (ON DELETE CASCADE, through the indexes on
-- last_scan_id and scan_id of 20261207000002-04). Scans are deleted only
-- with their account: a scan that some resource or finding was last seen
-- by takes that row with it. A scan's write no longer touches its account's
-- row through these keys, so `save_scan` locks it (FOR KEY SHARE) itself:
-- an account deleted during the write waits for it, as it did before.
--
-- Adding a key checks every existing row, under an exclusive lock on the
-- table until this commits, as 20261207000001 did; FORCEd row-level
-- security would hide those rows from an owner that is not a superuser.
ALTER TABLE scans NO FORCE ROW LEVEL SECURITY;
ALTER TABLE resources NO FORCE ROW LEVEL SECURITY;
ALTER TABLE resource_history NO FORCE ROW LEVEL SECURITY;
ALTER TABLE findings NO FORCE ROW LEVEL SECURITY;

ALTER TABLE scans ADD CONSTRAINT scans_id_account_id_workspace_id_key UNIQUE (id, account_id, workspace_id);

ALTER TABLE resources
    DROP CONSTRAINT resources_account_fkey,
    DROP CONSTRAINT resources_last_scan_id_fkey,
    ADD CONSTRAINT resources_last_scan_fkey FOREIGN KEY (last_scan_id, account_id, workspace_id)
        REFERENCES scans (id, account_id, workspace_id) ON DELETE CASCADE;
ALTER TABLE resource_history
    DROP CONSTRAINT resource_history_account_fkey,
    DROP CONSTRAINT resource_history_scan_id_fkey,
    ADD CONSTRAINT resource_history_scan_fkey FOREIGN KEY (scan_id, account_id, workspace_id)
        REFERENCES scans (id, account_id, workspace_id) ON DELETE CASCADE;
-- A resolved finding also names the (later) scan that resolved it. The
-- deletion reaches an account's scans in any order, newest first through
-- their index: were that key to refuse (NO ACTION, as it was), deleting the
-- resolving scan before the finding's own last scan would fail the whole
-- deletion. The finding goes with its last scan; until then the reference
-- is cleared, as a decision's is (20261124000001).
ALTER TABLE findings
    DROP CONSTRAINT findings_account_fkey,
    DROP CONSTRAINT findings_last_scan_id_fkey,
    ADD CONSTRAINT findings_last_scan_fkey FOREIGN KEY (last_scan_id, account_id, workspace_id)
        REFERENCES scans (id, account_id, workspace_id) ON DELETE CASCADE,
    DROP CONSTRAINT findings_resolved_scan_id_fkey,
    ADD CONSTRAINT findings_resolved_scan_id_fkey FOREIGN KEY (resolved_scan_id)
        REFERENCES scans (id) ON DELETE SET NULL;

ALTER TABLE scans FORCE ROW LEVEL SECURITY;
ALTER TABLE resources FORCE ROW LEVEL SECURITY;
ALTER TABLE resource_history FORCE ROW LEVEL SECURITY;
ALTER TABLE findings FORCE ROW LEVEL SECURITY;
