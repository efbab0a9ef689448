-- no-transaction
-- The (scan, finding) index of moves is a prefix of the one before; dropped
-- concurrently, so that no save waits on it.
DROP INDEX CONCURRENTLY IF EXISTS scan_finding_changes_moves;
