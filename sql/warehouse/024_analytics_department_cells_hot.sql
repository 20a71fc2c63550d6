-- A staff member moving department costs less (issue 15, "without slowing run_load";
-- docs/benchmarks.md, "A department renamed by its key").
--
-- With a rename down to one row (021, 022), what a simulated batch's department change still
-- cost at 1M was its staff move: the staff member's ~1.3k orders regrouped twice, ~3.3k cells
-- of department_summary updated each time, ~0.25 backend CPU-s in all (0.21-0.27 on a 1M
-- copy, analyzed or not). Most of it was writing the cells: the partial index
-- department_summary_emptied (014) is on `orders`, so no update of a cell could be a HOT
-- update (every one also went into the five-column primary key), and the DELETE of the cells
-- left at zero that it served then still read ~20 ms of index per call. Now:
-- * the cells left at zero are found among the rows the INSERT ... ON CONFLICT wrote
--   (RETURNING) and deleted by their key; the index on `orders` is dropped;
-- * department_summary keeps 15 % of each page free (fillfactor 85) so an updated cell fits
--   beside its old version, and is rewritten once now (CLUSTER, in primary-key order: a
--   department's rows, which its page reads, are together too).

DROP INDEX analytics.department_summary_emptied;
ALTER TABLE analytics.department_summary SET (fillfactor = 85);
CLUSTER analytics.department_summary USING department_summary_pkey;
ANALYZE analytics.department_summary;

-- 021's, deleting only the cells it left at zero.
CREATE OR REPLACE FUNCTION analytics.add_to_department_summary(
    cells text, merge boolean, ids integer[] DEFAULT NULL, last integer DEFAULT NULL, top integer DEFAULT NULL
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    zero_keys integer[];
    zero_breakdowns text[];
    zero_periods date[];
    zero_currencies integer[];
    zero_members integer[];
BEGIN
    IF NOT merge THEN
        EXECUTE format($q$
            INSERT INTO analytics.department_summary
                (department_key, breakdown, period, currency_id, member_id, orders, units, cents)
            %1$s
        $q$, cells) USING ids, last, top;
        RETURN;
    END IF;
    EXECUTE format($q$
        WITH written AS (
            INSERT INTO analytics.department_summary AS d
                (department_key, breakdown, period, currency_id, member_id, orders, units, cents)
            %1$s
            ON CONFLICT (department_key, breakdown, period, currency_id, member_id) DO UPDATE
            SET orders = d.orders + excluded.orders, units = d.units + excluded.units,
                cents = d.cents + excluded.cents
            RETURNING d.department_key, d.breakdown, d.period, d.currency_id, d.member_id, d.orders
        )
        SELECT array_agg(department_key), array_agg(breakdown), array_agg(period), array_agg(currency_id),
               array_agg(member_id)
        FROM written WHERE orders = 0
    $q$, cells)
    INTO zero_keys, zero_breakdowns, zero_periods, zero_currencies, zero_members
    USING ids, last, top;
    IF zero_keys IS NOT NULL THEN
        -- a cell whose orders all left holds nothing (a rebuild would not write it)
        DELETE FROM analytics.department_summary s
        USING unnest(zero_keys, zero_breakdowns, zero_periods, zero_currencies, zero_members) AS z(k, b, p, c, m)
        WHERE (s.department_key, s.breakdown, s.period, s.currency_id, s.member_id) = (z.k, z.b, z.p, z.c, z.m);
    END IF;
END
$$;
