-- Indexes on the columns that reference a row deleted in bulk
-- (issue 16). Deleting an account deletes its jobs, scans, findings and
-- decisions, and for each deleted row PostgreSQL looks up the rows that
-- reference it, to cascade, null or refuse; without an index starting with
-- the referencing column, each lookup reads the whole table, every
-- tenant's rows (an account with 200 scans and 2,000 findings took 50 s to
-- delete beside another's 300,000 resources; `delete_bench`).
--
-- The large tables have a migration each, so that each build blocks
-- writes to one table only; these are small (a few rows per account, scan
-- or user), so their builds, and the locks they hold together, last
-- milliseconds. Index builds read every row whatever the row-level security.
CREATE INDEX decisions_resolved_scan ON decisions (resolved_scan_id) WHERE resolved_scan_id IS NOT NULL;
CREATE INDEX scans_job ON scans (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX scan_open_counts_account ON scan_open_counts (account_id);
-- A user's removal: its sessions (never deleted, only revoked) and the keys it made.
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX api_keys_created_by ON api_keys (created_by) WHERE created_by IS NOT NULL;
