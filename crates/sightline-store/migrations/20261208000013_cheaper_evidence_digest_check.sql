-- The evidence digest's rule (64 bytes, each a lowercase hex digit) checked
-- with one negated class (issue 16). Measured in psql over 100,000
-- digests, beside `octet_length` alone (7-12 ms):
--   '^[0-9a-f]{64}$' (the first rule; the engine expands the counted
--     repetition): 430 ms;
--   ltrim(digest, '0123456789abcdef') = '' (20261207000001, which every
--     character of the digest compares with every character of the set):
--     203-213 ms, 7% of the findings' statements in a profile of a
--     100,000-finding write;
--   digest !~ '[^0-9a-f]': 35 ms.
-- A class of code-point ranges does not consult the collation, `!~` is
-- case-sensitive, and the backend caches the compiled expression.
--
-- The rule is the same, so the rows already written hold to it. The
-- constraint is added NOT VALID here, which holds the table's ACCESS
-- EXCLUSIVE lock only for the catalog change (new rows are checked from
-- the commit on), and validated by the next migration, in a transaction of
-- its own, under the SHARE UPDATE EXCLUSIVE lock VALIDATE takes: reads and
-- writes of findings go on while it reads the table.
ALTER TABLE findings
    DROP CONSTRAINT findings_evidence_sha256_check,
    ADD CONSTRAINT findings_evidence_sha256_check
        CHECK (octet_length(evidence_sha256) = 64 AND evidence_sha256 !~ '[^0-9a-f]') NOT VALID;
