-- One of the indexes on the columns that reference a row deleted in bulk
-- (issue 16). Deleting an account deletes its jobs, scans, findings and
-- decisions, and for each deleted row PostgreSQL looks up the rows that
-- reference it, to cascade, null or refuse; without an index starting with
-- the referencing column, each lookup reads the whole table, every
-- tenant's rows (an account with 200 scans and 2,000 findings took 50 s to
-- delete beside another's 300,000 resources; `delete_bench`).
--
-- One table per migration, so that each runs in a transaction of its own:
-- the build blocks writes to this table only (not reads, not other tables)
-- until it commits, seconds per million rows, and no two tables are held
-- at once, so no deadlock with a transaction writing both. Index builds
-- read every row whatever the row-level security.
CREATE INDEX findings_last_scan ON findings (last_scan_id);
CREATE INDEX findings_resolved_scan ON findings (resolved_scan_id) WHERE resolved_scan_id IS NOT NULL;
CREATE INDEX findings_decision ON findings (decision_id) WHERE decision_id IS NOT NULL;
