-- The integrity every scan write checks, at fewer checks a row (issue 16:
-- a 100,000-resource scan spent a third of its findings statements in
-- foreign-key triggers and a tenth in the hash column's regular expression).
--
-- A row's account and workspace are one foreign key to the account's pair,
-- not two separate ones: the same two columns are checked, by one probe,
-- and the check is stronger, since a row can no longer name one workspace's
-- account under another workspace (row-level security reads workspace_id,
-- so such a row would be shown to the wrong tenant). A deleted workspace
-- still takes every row with it, through its accounts. Scans and jobs name
-- their account the same way, and a scan's changes their scan, so the pair
-- holds along the chain a change is reached by. (References to a scan or a
-- finding by id alone remain: a pair for each would cost every finding row
-- one more unique index to maintain.)
--
-- This holds an exclusive lock on these tables until it commits, while it
-- checks every existing row: run by `sightline setup` before the new tasks
-- start, it makes page reads and scan writes wait for that long.
--
-- Adding a key checks every existing row, which FORCEd row-level security
-- would hide from a migrating role that is not a superuser (Aurora's master
-- among them): lifted for this transaction, as in the earlier migrations.
ALTER TABLE accounts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE jobs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE scans NO FORCE ROW LEVEL SECURITY;
ALTER TABLE resources NO FORCE ROW LEVEL SECURITY;
ALTER TABLE resource_history NO FORCE ROW LEVEL SECURITY;
ALTER TABLE findings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE scan_finding_changes NO FORCE ROW LEVEL SECURITY;

ALTER TABLE accounts ADD CONSTRAINT accounts_id_workspace_id_key UNIQUE (id, workspace_id);
ALTER TABLE scans ADD CONSTRAINT scans_id_workspace_id_key UNIQUE (id, workspace_id);

ALTER TABLE jobs
    DROP CONSTRAINT jobs_account_id_fkey,
    DROP CONSTRAINT jobs_workspace_id_fkey,
    ADD CONSTRAINT jobs_account_fkey FOREIGN KEY (account_id, workspace_id)
        REFERENCES accounts (id, workspace_id) ON DELETE CASCADE;
ALTER TABLE scans
    DROP CONSTRAINT scans_account_id_fkey,
    DROP CONSTRAINT scans_workspace_id_fkey,
    ADD CONSTRAINT scans_account_fkey FOREIGN KEY (account_id, workspace_id)
        REFERENCES accounts (id, workspace_id) ON DELETE CASCADE;
ALTER TABLE resources
    DROP CONSTRAINT resources_account_id_fkey,
    DROP CONSTRAINT resources_workspace_id_fkey,
    ADD CONSTRAINT resources_account_fkey FOREIGN KEY (account_id, workspace_id)
        REFERENCES accounts (id, workspace_id) ON DELETE CASCADE;
ALTER TABLE resource_history
    DROP CONSTRAINT resource_history_account_id_fkey,
    DROP CONSTRAINT resource_history_workspace_id_fkey,
    ADD CONSTRAINT resource_history_account_fkey FOREIGN KEY (account_id, workspace_id)
        REFERENCES accounts (id, workspace_id) ON DELETE CASCADE;
ALTER TABLE findings
    DROP CONSTRAINT findings_account_id_fkey,
    DROP CONSTRAINT findings_workspace_id_fkey,
    ADD CONSTRAINT findings_account_fkey FOREIGN KEY (account_id, workspace_id)
        REFERENCES accounts (id, workspace_id) ON DELETE CASCADE;
ALTER TABLE scan_finding_changes
    DROP CONSTRAINT scan_finding_changes_scan_id_fkey,
    DROP CONSTRAINT scan_finding_changes_workspace_id_fkey,
    ADD CONSTRAINT scan_finding_changes_scan_fkey FOREIGN KEY (scan_id, workspace_id)
        REFERENCES scans (id, workspace_id) ON DELETE CASCADE;

-- The same rule as '^[0-9a-f]{64}$' (64 bytes, each a lowercase hex digit),
-- without running the regular-expression engine on every finding written.
ALTER TABLE findings
    DROP CONSTRAINT findings_evidence_sha256_check,
    ADD CONSTRAINT findings_evidence_sha256_check
        CHECK (octet_length(evidence_sha256) = 64 AND ltrim(evidence_sha256, '0123456789abcdef') = '');

ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
ALTER TABLE scans FORCE ROW LEVEL SECURITY;
ALTER TABLE resources FORCE ROW LEVEL SECURITY;
ALTER TABLE resource_history FORCE ROW LEVEL SECURITY;
ALTER TABLE findings FORCE ROW LEVEL SECURITY;
ALTER TABLE scan_finding_changes FORCE ROW LEVEL SECURITY;
