-- Free text is matched field by field: a resource's label (its name and
-- id) or its ARN, each with a trigram index of its own, in place of one
-- index over the three joined (issue 16).
--
-- pg_trgm splits an ILIKE pattern into words at every character that is
-- not a letter or digit and asks the index for rows holding every word's
-- trigrams. Over the three fields joined, a term's trigrams could each
-- come from another field: every ARN holds its twelve-digit account id, so
-- `bench-1000` (trigrams ben, enc, nch, 100, 000) got every resource of an
-- account 100000000003 as a candidate and rechecked a million rows for 112
-- matches (1.5 s, `docs/benchmarks.md`). Apart, a name's term is a
-- candidate only where the name (or id) holds its trigrams, an ARN's only
-- where the ARN does: 22 ms for the same term. A term whose trigrams are in
-- most ARNs (`res-1000` in the bench, whose account ids are all
-- 1000000000NN and resource ids res-N) is still as broad as before.
--
-- A pattern matches as before unless it runs from the label into the ARN:
-- a term spanning the resource id and the ARN (`res-1 arn:aws`), or a
-- quoted term with a space after the id (`"i-0abc "`) or before the ARN
-- (`" arn:aws"`).
--
-- The ARN's index is on lower(arn), not on the column: pg_trgm's operator
-- class serves `=` too, and the planner, unable to cost a trigram scan,
-- took an index on the bare column for the inbox's `r.arn =
-- f.resource_arn` join (96 ms a row; `no_trigram_index_is_on_a_bare_column`).
-- ILIKE lowers both sides itself, so ILIKE on the lowered ARN matches what
-- ILIKE on the ARN matches.
--
-- Locks: the two indexes are built first, under the SHARE lock CREATE
-- INDEX takes (reads go on, writes to resources wait), and the old index is
-- dropped last, whose ACCESS EXCLUSIVE lock is held only from there to the
-- commit. The builds took 15 s over 1,100,000 resources on the bench
-- machine; a scan's write waits that long.

CREATE INDEX resources_text_label ON resources
    USING gin ((coalesce(name, '') || ' ' || resource_id) gin_trgm_ops);
CREATE INDEX resources_text_arn ON resources USING gin (lower(arn) gin_trgm_ops);

-- As 20261206000002 made it (its owner, grants and the workspace it reads
-- kept by CREATE OR REPLACE), matching either field, and refusing a pattern
-- that ends in a lone escape before any row is read: ILIKE raises that
-- error only on a row it rechecks, so another workspace's rows (which the
-- index scan passes before the workspace filter) would decide whether it
-- is raised.
CREATE OR REPLACE FUNCTION explorer_candidates(p_tags jsonb, p_text text, p_limit integer) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    ws uuid := public.app_workspace();
BEGIN
    IF ws IS NULL OR (p_tags IS NULL AND p_text IS NULL) THEN
        RETURN;
    END IF;
    IF p_tags IS NOT NULL AND jsonb_typeof(p_tags) <> 'object' THEN
        RAISE EXCEPTION 'explorer_candidates: tags must be a JSON object, found %', jsonb_typeof(p_tags)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_text ~ '(^|[^\\])(\\\\)*\\$' THEN
        RAISE EXCEPTION 'explorer_candidates: the pattern ends with an escape character'
            USING ERRCODE = 'invalid_escape_sequence';
    END IF;
    RETURN QUERY EXECUTE
        'SELECT r.id FROM public.resources r WHERE r.workspace_id = $1'
        || CASE WHEN p_tags IS NULL THEN '' ELSE ' AND r.tags @> $2' END
        || CASE WHEN p_text IS NULL THEN '' ELSE
               ' AND ((coalesce(r.name, '''') || '' '' || r.resource_id) ILIKE $3 OR lower(r.arn) ILIKE $3)' END
        || ' LIMIT $4'
    USING ws, p_tags, p_text, least(greatest(coalesce(p_limit, 0), 0), 20001);
END;
$$;

-- The planner's statistics of the new expressions: without them it takes a
-- pattern in every name (`bench`) for a rare one and builds a bitmap of a
-- million rows (167 ms p50 for the page) where a scan stops at the cap.
-- Autovacuum would gather them only after enough of the table changed.
-- ANALYZE samples a fixed number of rows, whatever the table's size.
ANALYZE resources;

DROP INDEX resources_text;
