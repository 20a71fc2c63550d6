-- retire_versions without a scan of <fact>_superseded per candidate (issue 15; docs/benchmarks.md,
-- "Folding a big run after its commit").
--
-- 010 turned hash and merge joins off in retire_versions so that its plans hold without the
-- facts' statistics. Its "not listed yet" test, NOT EXISTS in <fact>_superseded, then became a
-- nested loop over whatever the planner thought of that table: while it is empty or never
-- analyzed (a warehouse whose first load had one version per order), a sequential scan per
-- candidate. The scan reads every page the same INSERT has added so far (invisible to it, but
-- read), so a run with many new versions cost quadratic time: 60k new rows (30k new versions) on
-- 300k folded orders took 36 s in retire_versions instead of ~0.3 s once the table had pages.
-- The primary key of <fact>_superseded now decides it (ON CONFLICT DO NOTHING RETURNING gives
-- exactly the newly listed ids, as NOT EXISTS did). The rest is 012's function unchanged.

CREATE OR REPLACE FUNCTION analytics.retire_versions(fact text, last integer, top integer)
RETURNS SETOF integer LANGUAGE plpgsql
SET jit = off SET enable_hashjoin = off SET enable_mergejoin = off SET enable_hashagg = off
AS $$
DECLARE
    id_col text;
    key_col text;
    superseded text;
    retired integer[];
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN id_col := 'sales_record_id'; key_col := 'sales_order_id';
        WHEN 'fact_purchase_order' THEN id_col := 'purchase_record_id'; key_col := 'purchase_order_id';
        WHEN 'fact_payment' THEN id_col := 'payment_record_id'; key_col := 'payment_id';
    END CASE;
    superseded := replace(fact, 'fact_', '') || '_superseded';
    EXECUTE format($q$
        WITH fresh AS (
            SELECT %2$I AS id, %3$I AS key FROM public.%1$I WHERE %2$I > $1 AND %2$I <= $2
        ),
        candidates AS (
            -- a source row seen twice in these rows (sorted, not hashed) ...
            SELECT key FROM fresh GROUP BY key HAVING count(*) > 1
            UNION
            -- ... or already stored before them (skipped on a first load: nothing is);
            -- one index lookup per new row
            SELECT fresh.key FROM fresh
            WHERE $1 > 0 AND EXISTS (SELECT 1 FROM public.%1$I o WHERE o.%3$I = fresh.key AND o.%2$I <= $1)
        ),
        retired AS (
            SELECT v.id FROM candidates c
            CROSS JOIN LATERAL (
                SELECT %2$I AS id FROM public.%1$I f
                WHERE f.%3$I = c.key AND f.%2$I <= $2
                ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.%2$I DESC
                OFFSET 1
            ) v
        ),
        listed AS (
            -- what is listed already (an older version retired by an earlier fold) is skipped
            -- by the primary key, one index probe per row, whatever the statistics say
            INSERT INTO analytics.%4$I (%2$I) SELECT id FROM retired ON CONFLICT DO NOTHING RETURNING %2$I AS id
        )
        SELECT coalesce(array_agg(id), '{}') FROM listed
    $q$, fact, id_col, key_col, superseded) INTO retired USING last, top;
    PERFORM analytics.keep_current(fact, last, top, retired);
    RETURN QUERY SELECT unnest(retired);
END
$$;
