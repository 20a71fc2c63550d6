-- A first fold (and a rebuild) that costs less (issue 15, "fast at 1M"; docs/benchmarks.md,
-- "The first fold's cost (migration 016)").
--
-- 014's fill_current builds an empty current-versions table's member indexes after its rows,
-- but kept the primary key, so the rows still went into it one by one: at 100k rows that was
-- ~60 % of the sales fill's backend CPU (0.33 of 0.53 CPU-s), where building the key after the
-- rows costs 0.03. A fill into an empty table now drops every index of the table, the primary
-- key included (analytics.drop_indexes), and builds them all after the rows
-- (the rows are one per fact row, so the key still checks they are unique).
-- analytics.department_summary (014) is filled the same way from zero: its ~153k rows at 1M
-- went one by one into a primary key of two text columns.
--
-- A fold from zero (last = 0) of sales and payments groups the current-versions table it has
-- just filled instead of the fact: the narrow rows, month and cents computed once by the fill,
-- no live predicate, no version taken back out. A version superseded within the rows still
-- leaves its cells behind, at zero, as a fold run by run does (it adds the version, then
-- takes it back out): those few rows are read from the fact with sign 0. The summaries are
-- then exactly what an incremental fold of the same rows gives (tests/functional/load/
-- test_load_summaries.py). Purchases keep the fact: purchase_current has no quantities.

-- Drop every index of `tbl` (its primary key too) and return the statements that create them
-- again, the primary key first. For a bulk fill of an empty table; the ACCESS EXCLUSIVE lock
-- this takes is held until the transaction ends.
CREATE FUNCTION analytics.drop_indexes(tbl regclass) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    rebuild text[];
    add_pkey text;
    pkey text;
    idx text;
BEGIN
    SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', tbl, conname, pg_get_constraintdef(oid)), conname
    INTO add_pkey, pkey
    FROM pg_constraint WHERE conrelid = tbl AND contype = 'p';
    IF pkey IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, pkey);
        rebuild := ARRAY[add_pkey];
    END IF;
    SELECT coalesce(rebuild, '{}') || array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid),
           string_agg(i.indexrelid::regclass::text, ', ')
    INTO rebuild, idx
    FROM pg_index i WHERE i.indrelid = tbl;
    IF idx IS NOT NULL THEN
        EXECUTE 'DROP INDEX ' || idx;
    END IF;
    RETURN coalesce(rebuild, '{}');
END
$$;

-- 015's, building the primary key after the rows too.
CREATE OR REPLACE FUNCTION analytics.fill_current(tbl text, id_col text, last integer, top integer)
RETURNS void LANGUAGE plpgsql
SET jit = off SET enable_hashjoin = on SET enable_nestloop = on SET enable_seqscan = on
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
    END IF;
    EXECUTE format('INSERT INTO analytics.%1$I SELECT * FROM analytics.%2$I WHERE %3$I > $1 AND %3$I <= $2',
                   tbl, tbl || '_of_facts', id_col) USING last, top;
    FOREACH stmt IN ARRAY coalesce(rebuild, '{}') LOOP
        EXECUTE stmt;
    END LOOP;
END
$$;

-- 012's, grouping sales_current when folding from zero.
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
            running_months = analytics.merge_months(s.running_months, excluded.running_months),
            running_orders = analytics.merge_running(s.running_months, s.running_orders,
                                                     excluded.running_months, excluded.running_orders),
            running_units = analytics.merge_running(s.running_months, s.running_units,
                                                    excluded.running_months, excluded.running_units),
            running_cents = analytics.merge_running(s.running_months, s.running_cents,
                                                    excluded.running_months, excluded.running_cents)
    $q$, format(member_rows, analytics.live_predicate('fact_sales_order'))) USING last, top, retired;
END
$$;

-- 010's, grouping payment_current when folding from zero.
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
            running_months = analytics.merge_months(s.running_months, excluded.running_months),
            running_payments = analytics.merge_running(s.running_months, s.running_payments,
                                                       excluded.running_months, excluded.running_payments),
            running_cents = analytics.merge_running(s.running_months, s.running_cents,
                                                    excluded.running_months, excluded.running_cents)
    $q$, format(payment_rows, analytics.live_predicate('fact_payment'))) USING last, top, retired;
END
$$;

-- 014's, with a plain INSERT into department_summary while it has no primary key (a fill from
-- zero: keep_current below drops the key, and every cell is new).
CREATE OR REPLACE FUNCTION analytics.count_in_departments(
    sign integer, department text, rows_where text, ids integer[], last integer, top integer
) RETURNS void LANGUAGE plpgsql
-- a first load counts a million rows: hash them (retire_versions, which calls this, turns hashing off)
SET jit = off SET enable_hashagg = on SET enable_hashjoin = on
AS $$
DECLARE
    merge boolean := EXISTS (SELECT 1 FROM pg_constraint
                             WHERE conrelid = 'analytics.department_summary'::regclass AND contype = 'p');
BEGIN
    EXECUTE format($q$
        INSERT INTO analytics.department_summary AS d
            (department_name, breakdown, period, currency_id, member_id, orders, units, cents)
        SELECT department_name,
               analytics.sales_breakdown(grouping(design_id, counterparty_id, sales_staff_id,
                                                  agreed_delivery_location_id)),
               CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END, currency_id,
               coalesce(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id, 0),
               %1$s * count(*), %1$s * sum(units_sold), %1$s * sum(cents)
        FROM (
            SELECT %2$s AS department_name, f.*
            FROM analytics.sales_current f JOIN public.dim_staff st ON st.staff_id = f.sales_staff_id
            WHERE %3$s
        ) r
        GROUP BY GROUPING SETS (
            (department_name, month, currency_id), (department_name, currency_id, design_id),
            (department_name, currency_id, counterparty_id), (department_name, currency_id, sales_staff_id),
            (department_name, currency_id, agreed_delivery_location_id)
        )
        %4$s
    $q$, sign, department, rows_where, CASE WHEN merge THEN $c$
        ON CONFLICT (department_name, breakdown, period, currency_id, member_id) DO UPDATE
        SET orders = d.orders + excluded.orders, units = d.units + excluded.units, cents = d.cents + excluded.cents
    $c$ ELSE '' END) USING ids, last, top;
    IF merge THEN
        -- a cell whose orders all left holds nothing (a rebuild would not write it)
        DELETE FROM analytics.department_summary WHERE orders = 0;
    END IF;
END
$$;

-- 014's, filling an empty department_summary with its keys built after the rows.
CREATE OR REPLACE FUNCTION analytics.keep_current(fact text, last integer, top integer, retired integer[])
RETURNS void LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    rebuild text[];
    stmt text;
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN
            IF cardinality(retired) > 0 THEN
                PERFORM analytics.count_in_departments(-1, 'st.department_name', 'f.sales_record_id = ANY($1)',
                                                       retired, last, top);
                DELETE FROM analytics.sales_current WHERE sales_record_id = ANY(retired);
            END IF;
            PERFORM analytics.fill_current('sales_current', 'sales_record_id', last, top);
            IF last = 0 THEN  -- sales_current was empty: so is department_summary (cleared with it)
                rebuild := analytics.drop_indexes('analytics.department_summary');
            END IF;
            PERFORM analytics.count_in_departments(1, 'st.department_name',
                                                   'f.sales_record_id > $2 AND f.sales_record_id <= $3',
                                                   retired, last, top);
            FOREACH stmt IN ARRAY coalesce(rebuild, '{}') LOOP
                EXECUTE stmt;
            END LOOP;
        WHEN 'fact_purchase_order' THEN
            DELETE FROM analytics.purchase_current WHERE purchase_record_id = ANY(retired);
            PERFORM analytics.fill_current('purchase_current', 'purchase_record_id', last, top);
        WHEN 'fact_payment' THEN
            DELETE FROM analytics.payment_current WHERE payment_record_id = ANY(retired);
            PERFORM analytics.fill_current('payment_current', 'payment_record_id', last, top);
    END CASE;
END
$$;

REVOKE EXECUTE ON FUNCTION analytics.drop_indexes(regclass) FROM PUBLIC;
