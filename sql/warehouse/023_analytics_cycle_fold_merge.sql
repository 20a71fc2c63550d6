-- A pipeline cycle's fold merges running totals without a function call per array
-- (issue 15, "without slowing run_load by more than 10 %"; docs/benchmarks.md, "A cycle's
-- fold (migration 023)").
--
-- An incremental fold merges each touched member row's stored running arrays with the
-- batch's (010): analytics.merge_months once and analytics.merge_running once per running
-- array, four SQL-function calls per sales row and three per payment row, each re-running
-- the union of the two month lists. A cycle's batch touches ~130 sales and ~50 payment rows,
-- so ~700 function calls. The merge is now one sub-select per row in the ON CONFLICT
-- (a multi-column assignment): the union of the months once, every array aggregated from it
-- with analytics.running_at (inlined). Same arrays, element for element, as before (the
-- equality tests in tests/functional/load/test_load_summaries.py fold run by run and from
-- zero). 016's refresh_sales and refresh_payments otherwise unchanged; merge_months and
-- merge_running stay (bench_dashboard's before_012 variant calls them).

-- 016's, merging the running arrays in one sub-select.
CREATE OR REPLACE FUNCTION analytics.refresh_sales(last integer, top integer) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    retired integer[] := ARRAY(SELECT analytics.retire_versions('fact_sales_order', last, top));
    member_rows text;
BEGIN
    IF last = 0 THEN  -- sales_current holds exactly the current, live versions of (0, top] now
        member_rows := $r$
            SELECT 1 AS sign, month, currency_id, design_id, counterparty_id, sales_staff_id,
                   agreed_delivery_location_id, units_sold AS units, cents
            FROM analytics.sales_current
            UNION ALL
            SELECT 0, date_trunc('month', created_date::timestamp)::date, currency_id, design_id, counterparty_id,
                   sales_staff_id, agreed_delivery_location_id, 0, 0
            FROM public.fact_sales_order f WHERE f.sales_record_id = ANY($3) AND %1$s
        $r$;
    ELSE
        member_rows := $r$
            SELECT sign, date_trunc('month', created_date::timestamp)::date AS month, currency_id, design_id,
                   counterparty_id, sales_staff_id, agreed_delivery_location_id, sign * units_sold AS units,
                   sign * (units_sold * unit_price * 100)::bigint AS cents  -- exact: prices have 2 decimals
            FROM (
                SELECT 1 AS sign, f.* FROM public.fact_sales_order f
                WHERE f.sales_record_id > $1 AND f.sales_record_id <= $2 AND %1$s
                UNION ALL
                SELECT -1, f.* FROM public.fact_sales_order f WHERE f.sales_record_id = ANY($3) AND %1$s
            ) delta
        $r$;
    END IF;
    EXECUTE format($q$
        WITH rows AS (%1$s),
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
            SELECT analytics.sales_breakdown(kind) AS breakdown,
                   '-infinity'::date AS period, currency_id, member_id,
                   sum(orders) AS orders, sum(units) AS units, sum(cents) AS cents,
                   array_agg(month ORDER BY month) AS r_months, array_agg(r_orders ORDER BY month) AS r_orders,
                   array_agg(r_units ORDER BY month) AS r_units, array_agg(r_cents ORDER BY month) AS r_cents
            FROM running GROUP BY kind, currency_id, member_id
            UNION ALL
            -- every order has exactly one design: its cells add up to the totals
            SELECT analytics.sales_breakdown(15), CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END,
                   currency_id, 0, sum(orders), sum(units), sum(cents), NULL, NULL, NULL, NULL
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
            (running_months, running_orders, running_units, running_cents) = (
                SELECT array_agg(m ORDER BY m),
                       array_agg(analytics.running_at(s.running_months, s.running_orders, m)
                                 + analytics.running_at(excluded.running_months, excluded.running_orders, m) ORDER BY m),
                       array_agg(analytics.running_at(s.running_months, s.running_units, m)
                                 + analytics.running_at(excluded.running_months, excluded.running_units, m) ORDER BY m),
                       array_agg(analytics.running_at(s.running_months, s.running_cents, m)
                                 + analytics.running_at(excluded.running_months, excluded.running_cents, m) ORDER BY m)
                FROM (SELECT unnest(s.running_months) UNION SELECT unnest(excluded.running_months)) AS u(m)
            )
    $q$, format(member_rows, analytics.live_predicate('fact_sales_order'))) USING last, top, retired;
END
$$;

-- 016's, merging the running arrays in one sub-select.
CREATE OR REPLACE FUNCTION analytics.refresh_payments(last integer, top integer) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    retired integer[] := ARRAY(SELECT analytics.retire_versions('fact_payment', last, top));
    payment_rows text;
BEGIN
    IF last = 0 THEN  -- payment_current holds exactly the current, live versions of (0, top] now
        payment_rows := $r$
            SELECT 1 AS sign, month, currency_id, payment_type_id, paid, counterparty_id, cents
            FROM analytics.payment_current
            UNION ALL
            SELECT 0, date_trunc('month', payment_date::timestamp)::date, currency_id, payment_type_id, paid,
                   counterparty_id, 0
            FROM public.fact_payment f WHERE f.payment_record_id = ANY($3) AND %1$s
        $r$;
    ELSE
        payment_rows := $r$
            SELECT sign, date_trunc('month', payment_date::timestamp)::date AS month, currency_id, payment_type_id,
                   paid, counterparty_id, sign * (payment_amount * 100)::bigint AS cents
            FROM (
                SELECT 1 AS sign, f.* FROM public.fact_payment f
                WHERE f.payment_record_id > $1 AND f.payment_record_id <= $2 AND %1$s
                UNION ALL
                SELECT -1, f.* FROM public.fact_payment f WHERE f.payment_record_id = ANY($3) AND %1$s
            ) delta
        $r$;
    END IF;
    EXECUTE format($q$
        WITH rows AS (%1$s),
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
            (running_months, running_payments, running_cents) = (
                SELECT array_agg(m ORDER BY m),
                       array_agg(analytics.running_at(s.running_months, s.running_payments, m)
                                 + analytics.running_at(excluded.running_months, excluded.running_payments, m)
                                 ORDER BY m),
                       array_agg(analytics.running_at(s.running_months, s.running_cents, m)
                                 + analytics.running_at(excluded.running_months, excluded.running_cents, m) ORDER BY m)
                FROM (SELECT unnest(s.running_months) UNION SELECT unnest(excluded.running_months)) AS u(m)
            )
    $q$, format(payment_rows, analytics.live_predicate('fact_payment'))) USING last, top, retired;
END
$$;
