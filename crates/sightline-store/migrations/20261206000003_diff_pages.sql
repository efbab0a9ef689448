-- no-transaction
-- A diff between adjacent scans is pages of one kind of change, in finding
-- order: the later scan's moves by (scan, change, finding) serve each page
-- as an index range, whatever the other kinds hold (issue 16: a diff of
-- 19,609 resolutions read and sorted them all for every page view). Built
-- concurrently, outside a transaction, so that scans keep saving meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS scan_finding_changes_by_kind ON scan_finding_changes (scan_id, change, finding_id) WHERE change <> 'still_open';
