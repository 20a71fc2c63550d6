-- An incremental fill of the current-versions tables that probes <fact>_superseded by its
-- primary key whatever the list's statistics say (issue 15; docs/benchmarks.md, "Member
-- filters from current-versions tables").
--
-- 015 turned sequential scans off for an incremental fill so that its NOT EXISTS in
-- <fact>_superseded would probe the list's primary key per new row. When the list's statistics
-- say it is empty while it holds rows (analyzed empty, then filled), the planner still chose a
-- nested loop over a Materialize of a sequential scan of the whole list, re-read for every new
-- fact row: 180,000 list rows read for 300 new rows and 600 listed (the xfail case of
-- tests/functional/load/test_load_summaries.py). Materialize is now off for the incremental
-- fill too, which leaves the index probe as the only plan without a disabled node. The rest is
-- 016's function unchanged (a fill from zero still hashes the list once).

CREATE OR REPLACE FUNCTION analytics.fill_current(tbl text, id_col text, last integer, top integer)
RETURNS void LANGUAGE plpgsql
SET jit = off SET enable_hashjoin = on SET enable_nestloop = on SET enable_seqscan = on SET enable_material = on
AS $$
DECLARE
    rebuild text[];
    stmt text;
BEGIN
    IF last = 0 THEN
        PERFORM set_config('enable_nestloop', 'off', true);
        rebuild := analytics.drop_indexes(format('analytics.%I', tbl)::regclass);
    ELSE
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_material', 'off', true);
    END IF;
    EXECUTE format('INSERT INTO analytics.%1$I SELECT * FROM analytics.%2$I WHERE %3$I > $1 AND %3$I <= $2',
                   tbl, tbl || '_of_facts', id_col) USING last, top;
    FOREACH stmt IN ARRAY coalesce(rebuild, '{}') LOOP
        EXECUTE stmt;
    END LOOP;
END
$$;
