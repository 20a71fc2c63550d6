-- The current-versions tables' fill without a plan that depends on statistics (issue 15;
-- docs/benchmarks.md, "Member filters").
--
-- analytics.fill_current (014) is called from retire_versions, whose hash and merge joins are
-- off (010), so its NOT EXISTS in <fact>_superseded (the <fact>_current_of_facts views) became
-- a nested loop over whatever the planner thought of that table: when it had been analyzed
-- while empty, a sequential scan of the whole list per row (a rebuild of 360k rows ran for
-- over 5 minutes; found by dashperf3). Now a fill into an empty table (last = 0: a first load,
-- a rebuild) hashes the list once (nested loops off), and an incremental fill looks each new
-- row up by the list's primary key (sequential scans off): linear either way. The SET clauses
-- restore the caller's settings when the function returns.

CREATE OR REPLACE FUNCTION analytics.fill_current(tbl text, id_col text, last integer, top integer)
RETURNS void LANGUAGE plpgsql
SET jit = off SET enable_hashjoin = on SET enable_nestloop = on SET enable_seqscan = on
AS $$
DECLARE
    rebuild text[];
    idx text;
BEGIN
    IF last = 0 THEN
        PERFORM set_config('enable_nestloop', 'off', true);
        SELECT array_agg(pg_get_indexdef(i.indexrelid)), string_agg(i.indexrelid::regclass::text, ', ')
        INTO rebuild, idx
        FROM pg_index i WHERE i.indrelid = format('analytics.%I', tbl)::regclass AND NOT i.indisprimary;
        IF idx IS NOT NULL THEN
            EXECUTE 'DROP INDEX ' || idx;
        END IF;
    ELSE
        PERFORM set_config('enable_seqscan', 'off', true);
    END IF;
    EXECUTE format('INSERT INTO analytics.%1$I SELECT * FROM analytics.%2$I WHERE %3$I > $1 AND %3$I <= $2',
                   tbl, tbl || '_of_facts', id_col) USING last, top;
    FOREACH idx IN ARRAY coalesce(rebuild, '{}') LOOP
        EXECUTE idx;
    END LOOP;
END
$$;
