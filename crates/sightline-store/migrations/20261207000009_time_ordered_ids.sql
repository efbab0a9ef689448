-- Resources and findings take time-ordered ids (UUID version 7, RFC 9562:
-- 48 bits of Unix milliseconds, then 74 random bits) instead of random
-- ones (version 4). Issue 16: a scan writes them by the hundred thousand,
-- and each random id landed on a random leaf of its primary key and of
-- every index that ends in it (the inbox's two keysets, the changes' key
-- and their index by finding), so each insert read and dirtied a page of
-- its own and split pages half full. A time-ordered id lands at the right
-- edge, beside the last one. Measured on the bench's first write of
-- 100,000 findings: 4.8-5.3 s of statement time against 5.3-5.9 s
-- (docs/benchmarks.md).
--
-- The id stays unguessable (74 random bits, as many as version 4 keeps
-- beyond its own 6 fixed) and says when its row was first written, which
-- first_seen already shows. Ids written before this stay as they are:
-- only the default changes, so a build before this one runs on this schema
-- unchanged. PostgreSQL 15 has no uuidv7() (18 has); this builds one from
-- gen_random_uuid(), whose version nibble becomes 7 (bits 52 and 53 set:
-- 0100 to 0111) and whose variant bits (10) already are RFC 9562's.
CREATE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.set_bit(pg_catalog.set_bit(
            pg_catalog.overlay(
                pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
                -- The low six bytes of the milliseconds, big-endian, in
                -- place of the first six.
                pg_catalog.substring(
                    pg_catalog.int8send(
                        pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) * 1000)::bigint),
                    3),
                1, 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
REVOKE ALL ON FUNCTION uuid_v7() FROM PUBLIC;
-- The worker writes scans' rows; a column's default runs as the role that
-- inserts the row.
GRANT EXECUTE ON FUNCTION uuid_v7() TO sightline_worker;

ALTER TABLE resources ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE findings ALTER COLUMN id SET DEFAULT uuid_v7();
