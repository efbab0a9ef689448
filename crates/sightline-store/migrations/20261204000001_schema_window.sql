-- Which builds may run on this database: those that know migration
-- compatible_from or a later one. From here on migrations expand, then
-- contract: an expanding migration (a new table, a nullable or defaulted
-- column, a new index) leaves compatible_from alone, so the previous image
-- still starts after an upgrade and a CloudFormation rollback works; a
-- contracting one (dropping or renaming what an older build uses) ships at
-- least one release after the build that stopped using it, and raises
-- compatible_from to its own version. Builds before this one compared
-- versions exactly, so this migration starts the window at itself.
CREATE TABLE schema_window (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    compatible_from bigint NOT NULL
);
INSERT INTO schema_window (compatible_from) VALUES (20261204000001);
GRANT SELECT ON schema_window TO sightline_app, sightline_worker;

-- Data migrations run as the tables' owner, which on Aurora is not a
-- superuser: FORCE ROW LEVEL SECURITY applies to it and no policy admits
-- it, so an UPDATE inside FORCE sees no rows. 20261124000001 backfilled
-- content_md5 that way and, on Aurora, filled nothing: done again here,
-- with row security lifted for the statement's transaction only.
ALTER TABLE resources NO FORCE ROW LEVEL SECURITY;
UPDATE resources SET content_md5 = md5(tags::text || attributes::text) WHERE content_md5 IS NULL;
ALTER TABLE resources FORCE ROW LEVEL SECURITY;
