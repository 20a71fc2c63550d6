-- Folding a big run after its commit, and rebuilding instead of merging (issue 15, "fast at
-- 1M": the summaries' upkeep inside the load's transaction must not slow it by more than
-- 10 %; a first load's fold costs ~+56 % backend CPU: docs/benchmarks.md).
--
-- * summary_state.run_seq: the last load run the summaries include. The load folds a small
--   run inside its own transaction as before (the stamp moves with the facts); a big one
--   commits its facts first and folds right after in a transaction of its own, so the
--   summaries trail the facts for that long, and the app says which run its figures are
--   of. A crash between the two commits leaves the stamp behind the ledger: the next load
--   folds what is missing (load/summaries.py).
-- * refresh_summaries(through_run, rebuild_at): per fact, when the rows not yet folded are
--   at least rebuild_at times the folded ones, the fact's summaries are cleared and folded
--   again from zero (a set-based build: at last = 0 retire_versions finds repeated source
--   ids by one sort over the rows' keys and looks nothing up in stored versions, and the
--   summaries' ON CONFLICT merges nothing) instead of looking each new row's versions up
--   and merging running arrays per member. rebuild_at 'Infinity' never rebuilds, 0 always.
-- * clear_summaries(fact): what a rebuild and a TRUNCATE of the fact (`totes replay`) empty.
--   A rebuild DELETEs (readers keep seeing the old summaries until the fold commits);
--   the TRUNCATE trigger keeps TRUNCATE.

ALTER TABLE analytics.summary_state ADD COLUMN run_seq integer;
UPDATE analytics.summary_state SET run_seq = (SELECT max(run_seq) FROM pipeline.load_ledger);

-- Every summary kept of `fact` and its superseded versions; the fact is folded from zero next.
CREATE FUNCTION analytics.clear_summaries(fact text, how text DEFAULT 'delete') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tables text[];
    t text;
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN tables := ARRAY['sales_summary', 'sales_order_superseded'];
        WHEN 'fact_purchase_order' THEN tables := ARRAY['purchase_summary', 'purchase_order_superseded'];
        WHEN 'fact_payment' THEN tables := ARRAY['payment_summary', 'payment_superseded'];
    END CASE;
    FOREACH t IN ARRAY tables LOOP
        IF how = 'truncate' THEN
            EXECUTE format('TRUNCATE analytics.%I', t);
        ELSE
            EXECUTE format('DELETE FROM analytics.%I', t);
        END IF;
    END LOOP;
    UPDATE analytics.summary_state SET last_record_id = 0, refreshed_at = now() WHERE fact_table = fact;
END
$$;

CREATE OR REPLACE FUNCTION analytics.reset_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics.clear_summaries(TG_TABLE_NAME, 'truncate');
    RETURN NULL;
END
$$;

DROP FUNCTION analytics.refresh_summaries();

-- Fold every fact row the summaries have not seen yet and stamp them with through_run (by
-- default the ledger's last run). Run by the load (and only ever under its load lock).
CREATE FUNCTION analytics.refresh_summaries(through_run integer DEFAULT NULL, rebuild_at real DEFAULT 1)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    st record;
    last integer;
    top integer;
BEGIN
    -- A first load folds a million rows: keep its hash tables in memory (until this transaction ends).
    PERFORM set_config('work_mem', '256MB', true);
    FOR st IN SELECT fact_table, last_record_id FROM analytics.summary_state ORDER BY fact_table FOR UPDATE LOOP
        CASE st.fact_table
            WHEN 'fact_sales_order' THEN SELECT max(sales_record_id) INTO top FROM public.fact_sales_order;
            WHEN 'fact_purchase_order' THEN SELECT max(purchase_record_id) INTO top FROM public.fact_purchase_order;
            WHEN 'fact_payment' THEN SELECT max(payment_record_id) INTO top FROM public.fact_payment;
        END CASE;
        CONTINUE WHEN top IS NULL OR top <= st.last_record_id;
        last := st.last_record_id;
        -- surrogate keys as the row counts (identity: gaps only where a load rolled back)
        IF last > 0 AND top - last >= rebuild_at * last THEN
            PERFORM analytics.clear_summaries(st.fact_table);
            last := 0;
        END IF;
        CASE st.fact_table
            WHEN 'fact_sales_order' THEN PERFORM analytics.refresh_sales(last, top);
            WHEN 'fact_purchase_order' THEN PERFORM analytics.refresh_purchases(last, top);
            WHEN 'fact_payment' THEN PERFORM analytics.refresh_payments(last, top);
        END CASE;
        UPDATE analytics.summary_state SET last_record_id = top, refreshed_at = now()
        WHERE fact_table = st.fact_table;
    END LOOP;
    UPDATE analytics.summary_state SET run_seq = coalesce(through_run, (SELECT max(run_seq) FROM pipeline.load_ledger));
END
$$;

REVOKE EXECUTE ON FUNCTION analytics.refresh_summaries(integer, real), analytics.clear_summaries(text, text)
    FROM PUBLIC;
