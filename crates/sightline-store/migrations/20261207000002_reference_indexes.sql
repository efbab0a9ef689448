-- An index on every column that references a scan, a finding, a job, a
-- decision or an account (issue 16: at an Organization's scale).
--
-- Deleting an account deletes its jobs, scans, findings and decisions, by
-- the hundred or the hundred thousand, and for each deleted row PostgreSQL
-- looks up the rows that reference it, to cascade, null or refuse. Without
-- an index starting with the referencing column, each lookup reads the
-- whole referencing table, every tenant's rows: an account with 200 scans
-- took 17 s to delete beside 300,000 resources of another account, and one
-- with 100,000 findings would read every scan's changes once per finding.
-- With these, each lookup is an index probe.
--
-- Building them holds a lock that blocks writes to each table (not reads)
-- while it builds, seconds per million rows; `sightline setup` runs it
-- before the new tasks start. Index builds read every row whatever the
-- row-level security, so no policy needs lifting.
CREATE INDEX resources_last_scan ON resources (last_scan_id);
CREATE INDEX resource_history_scan ON resource_history (scan_id);
CREATE INDEX findings_last_scan ON findings (last_scan_id);
CREATE INDEX findings_resolved_scan ON findings (resolved_scan_id) WHERE resolved_scan_id IS NOT NULL;
CREATE INDEX findings_decision ON findings (decision_id) WHERE decision_id IS NOT NULL;
CREATE INDEX scan_finding_changes_finding ON scan_finding_changes (finding_id);
CREATE INDEX decisions_resolved_scan ON decisions (resolved_scan_id) WHERE resolved_scan_id IS NOT NULL;
CREATE INDEX scans_job ON scans (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX scan_open_counts_account ON scan_open_counts (account_id);
