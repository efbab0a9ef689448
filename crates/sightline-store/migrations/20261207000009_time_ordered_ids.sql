-- Resources and findings take time-ordered ids (UUID version 7, RFC 9562:
-- 48 bits of Unix milliseconds, then 74 random bits) instead of random
-- ones (version 4). Issue 16: a scan writes them by the hundred thousand,
-- and each random id landed on a random leaf of its primary key and of
-- every index that ends in it (the inbox's two keysets, the changes' key
-- and their index by finding), so each insert read and dirtied a page of
-- its own and split pages half full. A time-ordered id lands at the right
-- edge, beside the last one. Measured on the bench's first write of
-- 100,000 resources and 103,334 findings, three alternating runs each:
-- the findings' statements took 4.75-4.82 s against 5.61-5.99 s
-- (docs/benchmarks.md).
--
-- The id stays unguessable (74 random bits; version 4 has 122). It says
-- when the database first wrote its row, to the millisecond, and so the
-- order in which a scan's rows were written: first_seen gives the scan's
-- time already (the scanner's clock), the id little more. Ids
-- written before this stay as they are: only the default changes, so a
-- build before this one runs on this schema unchanged. PostgreSQL 15 has
-- no uuidv7() (18 has); this builds one from gen_random_uuid(), whose
-- version nibble becomes 7 (bits 52 and 53 set: 0100 to 0111) and whose
-- variant bits (10) already are RFC 9562's.
--
-- The body is SQL-standard (RETURN): PostgreSQL binds its functions,
-- operators and types when the function is created, so no schema on an
-- inserting role's search_path can stand in for them (an operator
-- *(float8, int4) would, in a body kept as text: pg_catalog has no exact
-- one), and it is still inlined into the INSERT.
CREATE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
RETURN encode(
    set_bit(set_bit(
        overlay(
            uuid_send(gen_random_uuid()),
            -- The low six bytes of the milliseconds, big-endian, in place
            -- of the first six.
            substring(int8send(floor(date_part('epoch', clock_timestamp()) * 1000)::bigint), 3),
            1, 6),
        52, 1), 53, 1),
    'hex')::uuid;
REVOKE ALL ON FUNCTION uuid_v7() FROM PUBLIC;
-- The worker writes scans' rows; a column's default runs as the role that
-- inserts the row.
GRANT EXECUTE ON FUNCTION uuid_v7() TO sightline_worker;

-- Changing a default takes each table's ACCESS EXCLUSIVE lock for an
-- instant, once it has it: setup waits for a scan being written to commit
-- (a write holds its locks to the end, 13-15 s at 100,000 resources), and
-- the pages reading these tables wait behind setup meanwhile.
ALTER TABLE resources ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE findings ALTER COLUMN id SET DEFAULT uuid_v7();
