-- A diff between adjacent scans is pages of one kind of change, in finding
-- order: the later scan's moves by (scan, change, finding) serve each page
-- whatever the other kinds hold (issue 16: a diff of 19,619 changes read and
-- sorted them all for every page view). The (scan, finding) index it
-- replaces is covered by the primary key.
--
-- In the migration's transaction, like every other index here: the build
-- holds a SHARE lock (scan saves wait, reads go on), and the old index is
-- dropped last, so its exclusive lock lasts only to the commit. Not
-- CONCURRENTLY: a concurrent build that fails leaves an invalid index
-- which `IF NOT EXISTS` would then take for done, and it waits on every
-- snapshot, including a second migrator's waiting on the migration lock.
CREATE INDEX scan_finding_changes_by_kind ON scan_finding_changes (scan_id, change, finding_id) WHERE change <> 'still_open';
DROP INDEX scan_finding_changes_moves;
