-- What keeping the summaries costs the load (issue 15, "fast at 1M"; docs/dashboard.md,
-- docs/benchmarks.md "The fold's cost").
--
-- 1. Plans that hold without the facts' statistics. A first load commits a million fact
--    rows that autovacuum analyzes some time later; a load in between planned
--    retire_versions' "stored before" join with PostgreSQL's default selectivities
--    (thousands of versions per source id), chose a merge join over a full sort of every
--    stored version plus JIT compilation, and took seconds instead of milliseconds
--    (this, not 007's arrays, was the incremental regression measured after 007). The
--    fold functions now run with hash and merge joins off (each new row's versions are
--    looked up through the version index, however few or many the planner expects) and
--    JIT off (its compile time alone was ~0.8 s per statement).
-- 2. Repeated source ids within a big batch are found by sorting the keys, not hashing a
--    million of them (about half the CPU).
-- 3. Running totals kept sparse: a member row's `running_months` (ascending first days of
--    the months the member had a change) and, aligned with it, the running totals up to
--    each of those months. `analytics.running_at(months, running, m)` is the total up to
--    month m: `width_bucket` finds the last listed month <= m by binary search (0 before
--    the first), all in C. The arrays are built by one window over the delta's cells and
--    merged by two set operations, where 007 filled dense arrays month by month in
--    PL/pgSQL; 007's month numbers and functions are dropped. Reads stay two array
--    reads per member row.
-- 4. The month totals come from the design cells (every order has one design), so the
--    delta is hashed four ways instead of six.
--
-- A deletion version counts for nothing (live predicate); a retired version is taken
-- back out (sign -1), as before.

ALTER TABLE analytics.sales_summary ADD COLUMN running_months date[];
ALTER TABLE analytics.payment_summary ADD COLUMN running_months date[];

DROP FUNCTION analytics.add_running(bigint[], bigint[]);
DROP FUNCTION analytics.running_totals(integer[], bigint[]);
DROP FUNCTION analytics.running_at(bigint[], integer);

-- The running total up to month m (its first day, or any day of it): 0 before the first listed month.
CREATE FUNCTION analytics.running_at(months date[], running bigint[], m date) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(running[width_bucket(m, months)], 0)
$$;

-- The months of two sparse running arrays together (ascending, distinct).
CREATE FUNCTION analytics.merge_months(a date[], b date[]) RETURNS date[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(m ORDER BY m) FROM (SELECT unnest(a) UNION SELECT unnest(b)) AS u(m)
$$;

-- Two sparse running arrays added up at every month of either (aligned with merge_months).
CREATE FUNCTION analytics.merge_running(a_months date[], a bigint[], b_months date[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(analytics.running_at(a_months, a, m) + analytics.running_at(b_months, b, m) ORDER BY m)
    FROM (SELECT unnest(a_months) UNION SELECT unnest(b_months)) AS u(m)
$$;

CREATE OR REPLACE FUNCTION analytics.retire_versions(fact text, last integer, top integer)
RETURNS SETOF integer LANGUAGE plpgsql
SET jit = off SET enable_hashjoin = off SET enable_mergejoin = off SET enable_hashagg = off
AS $$
DECLARE
    id_col text;
    key_col text;
    superseded text;
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN id_col := 'sales_record_id'; key_col := 'sales_order_id';
        WHEN 'fact_purchase_order' THEN id_col := 'purchase_record_id'; key_col := 'purchase_order_id';
        WHEN 'fact_payment' THEN id_col := 'payment_record_id'; key_col := 'payment_id';
    END CASE;
    superseded := replace(fact, 'fact_', '') || '_superseded';
    RETURN QUERY EXECUTE format($q$
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
            WHERE NOT EXISTS (SELECT 1 FROM analytics.%4$I s WHERE s.%2$I = v.id)
        )
        INSERT INTO analytics.%4$I (%2$I) SELECT id FROM retired RETURNING %2$I
    $q$, fact, id_col, key_col, superseded) USING last, top;
END
$$;

CREATE OR REPLACE FUNCTION analytics.refresh_sales(last integer, top integer) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    retired integer[] := ARRAY(SELECT analytics.retire_versions('fact_sales_order', last, top));
BEGIN
    EXECUTE format($q$
        WITH delta AS (
            SELECT 1 AS sign, f.* FROM public.fact_sales_order f
            WHERE f.sales_record_id > $1 AND f.sales_record_id <= $2 AND %1$s
            UNION ALL
            SELECT -1, f.* FROM public.fact_sales_order f WHERE f.sales_record_id = ANY($3) AND %1$s
        ),
        rows AS (
            SELECT sign, date_trunc('month', created_date::timestamp)::date AS month, currency_id, design_id,
                   counterparty_id, sales_staff_id, agreed_delivery_location_id, sign * units_sold AS units,
                   sign * (units_sold * unit_price * 100)::bigint AS cents  -- exact: prices have 2 decimals
            FROM delta
        ),
        cells AS (  -- per member, currency and month; kind = which member (grouping bits: a small integer sorts fast, a text does not)
            SELECT grouping(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id) AS kind,
                   month, currency_id,
                   coalesce(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id) AS member_id,
                   sum(sign)::bigint AS orders, sum(units)::bigint AS units, sum(cents)::bigint AS cents
            FROM rows
            GROUP BY GROUPING SETS (
                (month, currency_id, design_id), (month, currency_id, counterparty_id),
                (month, currency_id, sales_staff_id), (month, currency_id, agreed_delivery_location_id)
            )
        ),
        running AS (
            SELECT *, (sum(orders) OVER w)::bigint AS r_orders, (sum(units) OVER w)::bigint AS r_units,
                   (sum(cents) OVER w)::bigint AS r_cents
            FROM cells
            WINDOW w AS (PARTITION BY kind, currency_id, member_id ORDER BY month)
        ),
        summary AS (
            SELECT CASE kind WHEN 7 THEN 'design' WHEN 11 THEN 'counterparty' WHEN 13 THEN 'staff' ELSE 'location' END
                       AS breakdown,
                   '-infinity'::date AS period, currency_id, member_id,
                   sum(orders) AS orders, sum(units) AS units, sum(cents) AS cents,
                   array_agg(month ORDER BY month) AS r_months, array_agg(r_orders ORDER BY month) AS r_orders,
                   array_agg(r_units ORDER BY month) AS r_units, array_agg(r_cents ORDER BY month) AS r_cents
            FROM running GROUP BY kind, currency_id, member_id
            UNION ALL
            -- every order has exactly one design: its cells add up to the totals
            SELECT 'total', CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END, currency_id, 0,
                   sum(orders), sum(units), sum(cents), NULL, NULL, NULL, NULL
            FROM cells WHERE kind = 7  -- design
            GROUP BY GROUPING SETS ((month, currency_id), (currency_id))
        )
        INSERT INTO analytics.sales_summary AS s
            (breakdown, period, currency_id, member_id, orders, units, value,
             running_months, running_orders, running_units, running_cents)
        SELECT breakdown, period, currency_id, member_id, orders, units, cents * 0.01,
               r_months, r_orders, r_units, r_cents
        FROM summary
        ON CONFLICT (breakdown, period, currency_id, member_id) DO UPDATE
        SET orders = s.orders + excluded.orders, units = s.units + excluded.units, value = s.value + excluded.value,
            running_months = analytics.merge_months(s.running_months, excluded.running_months),
            running_orders = analytics.merge_running(s.running_months, s.running_orders,
                                                     excluded.running_months, excluded.running_orders),
            running_units = analytics.merge_running(s.running_months, s.running_units,
                                                    excluded.running_months, excluded.running_units),
            running_cents = analytics.merge_running(s.running_months, s.running_cents,
                                                    excluded.running_months, excluded.running_cents)
    $q$, analytics.live_predicate('fact_sales_order')) USING last, top, retired;
END
$$;

CREATE OR REPLACE FUNCTION analytics.refresh_payments(last integer, top integer) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    retired integer[] := ARRAY(SELECT analytics.retire_versions('fact_payment', last, top));
BEGIN
    EXECUTE format($q$
        WITH delta AS (
            SELECT 1 AS sign, f.* FROM public.fact_payment f
            WHERE f.payment_record_id > $1 AND f.payment_record_id <= $2 AND %1$s
            UNION ALL
            SELECT -1, f.* FROM public.fact_payment f WHERE f.payment_record_id = ANY($3) AND %1$s
        ),
        rows AS (
            SELECT sign, date_trunc('month', payment_date::timestamp)::date AS month, currency_id, payment_type_id,
                   paid, counterparty_id, sign * (payment_amount * 100)::bigint AS cents
            FROM delta
        ),
        by_type AS (
            SELECT 'type' AS breakdown, CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END AS period,
                   currency_id, payment_type_id, paid, 0 AS member_id, sum(sign) AS payments,
                   sum(cents) * 0.01 AS amount, NULL::date[] AS r_months, NULL::bigint[] AS r_payments,
                   NULL::bigint[] AS r_cents
            FROM rows
            GROUP BY GROUPING SETS ((month, currency_id, payment_type_id, paid), (currency_id, payment_type_id, paid))
        ),
        unpaid_cells AS (
            SELECT currency_id, counterparty_id, month, sum(sign)::bigint AS payments, sum(cents)::bigint AS cents
            FROM rows WHERE NOT paid
            GROUP BY currency_id, counterparty_id, month
        ),
        unpaid_running AS (
            SELECT *, (sum(payments) OVER w)::bigint AS r_payments, (sum(cents) OVER w)::bigint AS r_cents
            FROM unpaid_cells
            WINDOW w AS (PARTITION BY currency_id, counterparty_id ORDER BY month)
        ),
        unpaid AS (
            SELECT 'unpaid', '-infinity'::date, currency_id, 0, false, counterparty_id, sum(payments),
                   sum(cents) * 0.01, array_agg(month ORDER BY month), array_agg(r_payments ORDER BY month),
                   array_agg(r_cents ORDER BY month)
            FROM unpaid_running
            GROUP BY currency_id, counterparty_id
        )
        INSERT INTO analytics.payment_summary AS s
            (breakdown, period, currency_id, payment_type_id, paid, member_id, payments, amount,
             running_months, running_payments, running_cents)
        SELECT * FROM by_type UNION ALL SELECT * FROM unpaid
        ON CONFLICT (breakdown, period, currency_id, payment_type_id, paid, member_id) DO UPDATE
        SET payments = s.payments + excluded.payments, amount = s.amount + excluded.amount,
            running_months = analytics.merge_months(s.running_months, excluded.running_months),
            running_payments = analytics.merge_running(s.running_months, s.running_payments,
                                                       excluded.running_months, excluded.running_payments),
            running_cents = analytics.merge_running(s.running_months, s.running_cents,
                                                    excluded.running_months, excluded.running_cents)
    $q$, analytics.live_predicate('fact_payment')) USING last, top, retired;
END
$$;

-- 004's purchases fold, with the same settings as the others.
ALTER FUNCTION analytics.refresh_purchases(integer, integer) SET jit = off;

-- Fold the sales and payments an existing warehouse holds again, in the new form.
TRUNCATE analytics.sales_summary, analytics.sales_order_superseded, analytics.payment_summary,
    analytics.payment_superseded;
UPDATE analytics.summary_state SET last_record_id = 0 WHERE fact_table IN ('fact_sales_order', 'fact_payment');
SELECT analytics.refresh_summaries();

-- Only the app reads through running_at; the merge functions are the load's.
REVOKE EXECUTE ON FUNCTION analytics.merge_months(date[], date[]),
    analytics.merge_running(date[], bigint[], date[], bigint[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION analytics.running_at(date[], bigint[], date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.running_at(date[], bigint[], date) TO warehouse_reader;
