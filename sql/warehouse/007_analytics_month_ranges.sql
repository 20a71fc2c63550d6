-- Date ranges from the summaries (issue 15, "fast at 1M"): a page over some months no
-- longer reads the facts. 004 kept member rows (design, counterparty, staff, location;
-- unpaid payments per counterparty) for all time only, so a date range had to scan the
-- current fact versions (seconds at 1M). Per-month member rows would be ~0.6 rows per
-- order; instead each member row keeps, next to its all-time figures, RUNNING TOTALS per
-- month: running_units[m] = units of the months <= m, where m is a month number
-- (year * 12 + month - 1) and the array's bounds are the first and last month the member
-- had a change. A range [a, b] is running[b] - running[a - 1] (analytics.running_at
-- clamps to the bounds): two array reads per member row, however many months it spans,
-- on the same ~18k rows the all-time page reads.
--
-- Upkeep is 004's (one fold per run inside the load's transaction, signed delta rows); the
-- member grouping sets just gain the month, and a member's delta becomes running arrays
-- that ON CONFLICT adds to the stored ones (analytics.add_running). refresh_sales and
-- refresh_payments are replaced below; refresh_purchases is unchanged (the Purchases page
-- reads purchase totals per month only).

ALTER TABLE analytics.sales_summary
    ADD COLUMN running_orders bigint[],
    ADD COLUMN running_units bigint[],
    ADD COLUMN running_cents bigint[];  -- value in cents, in currency_id
ALTER TABLE analytics.payment_summary
    ADD COLUMN running_payments bigint[],
    ADD COLUMN running_cents bigint[];

-- The running total at month number m: 0 before the array's first month, its last value after its last.
CREATE FUNCTION analytics.running_at(running bigint[], m integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN running IS NULL OR m < array_lower(running, 1) THEN 0
                ELSE running[least(m, array_upper(running, 1))] END
$$;

-- Running totals over months[1] .. months[last] of amounts per month (months ascending, distinct).
CREATE FUNCTION analytics.running_totals(months integer[], amounts bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    lo integer := months[1];
    hi integer := months[cardinality(months)];
    out bigint[] := array_fill(0::bigint, ARRAY[hi - lo + 1], ARRAY[lo]);
    total bigint := 0;
    j integer := 1;
BEGIN
    FOR m IN lo .. hi LOOP
        IF months[j] = m THEN
            total := total + amounts[j];
            j := j + 1;
        END IF;
        out[m] := total;
    END LOOP;
    RETURN out;
END
$$;

-- Two running arrays added month by month (the stored one and a run's delta).
CREATE FUNCTION analytics.add_running(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    lo integer;
    hi integer;
    out bigint[];
BEGIN
    IF a IS NULL THEN
        RETURN b;
    ELSIF b IS NULL THEN
        RETURN a;
    END IF;
    lo := least(array_lower(a, 1), array_lower(b, 1));
    hi := greatest(array_upper(a, 1), array_upper(b, 1));
    out := array_fill(0::bigint, ARRAY[hi - lo + 1], ARRAY[lo]);
    FOR m IN lo .. hi LOOP
        out[m] := analytics.running_at(a, m) + analytics.running_at(b, m);
    END LOOP;
    RETURN out;
END
$$;

CREATE OR REPLACE FUNCTION analytics.refresh_sales(last integer, top integer) RETURNS void LANGUAGE plpgsql AS $$
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
        monthly AS (
            SELECT CASE
                       WHEN grouping(design_id) = 0 THEN 'design'
                       WHEN grouping(counterparty_id) = 0 THEN 'counterparty'
                       WHEN grouping(sales_staff_id) = 0 THEN 'staff'
                       WHEN grouping(agreed_delivery_location_id) = 0 THEN 'location'
                       ELSE 'total'
                   END AS breakdown,
                   month, currency_id,
                   coalesce(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id, 0) AS member_id,
                   sum(sign)::bigint AS orders, sum(units)::bigint AS units, sum(cents)::bigint AS cents
            FROM rows
            GROUP BY GROUPING SETS (
                (month, currency_id), (month, currency_id, design_id), (month, currency_id, counterparty_id),
                (month, currency_id, sales_staff_id), (month, currency_id, agreed_delivery_location_id)
            )
        ),
        numbered AS (
            SELECT *, (extract(year FROM month) * 12 + extract(month FROM month) - 1)::integer AS m FROM monthly
        ),
        summary AS (
            SELECT breakdown, month AS period, currency_id, member_id, orders, units, cents,
                   NULL::bigint[] AS r_orders, NULL::bigint[] AS r_units, NULL::bigint[] AS r_cents
            FROM numbered WHERE breakdown = 'total'
            UNION ALL
            SELECT breakdown, '-infinity', currency_id, member_id, sum(orders), sum(units), sum(cents),
                   CASE WHEN breakdown = 'total' THEN NULL
                        ELSE analytics.running_totals(array_agg(m ORDER BY m), array_agg(orders ORDER BY m)) END,
                   CASE WHEN breakdown = 'total' THEN NULL
                        ELSE analytics.running_totals(array_agg(m ORDER BY m), array_agg(units ORDER BY m)) END,
                   CASE WHEN breakdown = 'total' THEN NULL
                        ELSE analytics.running_totals(array_agg(m ORDER BY m), array_agg(cents ORDER BY m)) END
            FROM numbered GROUP BY breakdown, currency_id, member_id
        )
        INSERT INTO analytics.sales_summary AS s
            (breakdown, period, currency_id, member_id, orders, units, value,
             running_orders, running_units, running_cents)
        SELECT breakdown, period, currency_id, member_id, orders, units, cents * 0.01, r_orders, r_units, r_cents
        FROM summary
        ON CONFLICT (breakdown, period, currency_id, member_id) DO UPDATE
        SET orders = s.orders + excluded.orders, units = s.units + excluded.units, value = s.value + excluded.value,
            running_orders = analytics.add_running(s.running_orders, excluded.running_orders),
            running_units = analytics.add_running(s.running_units, excluded.running_units),
            running_cents = analytics.add_running(s.running_cents, excluded.running_cents)
    $q$, analytics.live_predicate('fact_sales_order')) USING last, top, retired;
END
$$;

CREATE OR REPLACE FUNCTION analytics.refresh_payments(last integer, top integer) RETURNS void LANGUAGE plpgsql AS $$
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
                   sum(cents) * 0.01 AS amount, NULL::bigint[] AS r_payments, NULL::bigint[] AS r_cents
            FROM rows
            GROUP BY GROUPING SETS ((month, currency_id, payment_type_id, paid), (currency_id, payment_type_id, paid))
        ),
        unpaid_monthly AS (
            SELECT currency_id, counterparty_id,
                   (extract(year FROM month) * 12 + extract(month FROM month) - 1)::integer AS m,
                   sum(sign)::bigint AS payments, sum(cents)::bigint AS cents
            FROM rows WHERE NOT paid
            GROUP BY currency_id, counterparty_id, month
        ),
        unpaid AS (
            SELECT 'unpaid', '-infinity'::date, currency_id, 0, false, counterparty_id, sum(payments),
                   sum(cents) * 0.01,
                   analytics.running_totals(array_agg(m ORDER BY m), array_agg(payments ORDER BY m)),
                   analytics.running_totals(array_agg(m ORDER BY m), array_agg(cents ORDER BY m))
            FROM unpaid_monthly
            GROUP BY currency_id, counterparty_id
        )
        INSERT INTO analytics.payment_summary AS s
            (breakdown, period, currency_id, payment_type_id, paid, member_id, payments, amount,
             running_payments, running_cents)
        SELECT * FROM by_type UNION ALL SELECT * FROM unpaid
        ON CONFLICT (breakdown, period, currency_id, payment_type_id, paid, member_id) DO UPDATE
        SET payments = s.payments + excluded.payments, amount = s.amount + excluded.amount,
            running_payments = analytics.add_running(s.running_payments, excluded.running_payments),
            running_cents = analytics.add_running(s.running_cents, excluded.running_cents)
    $q$, analytics.live_predicate('fact_payment')) USING last, top, retired;
END
$$;

-- Fold the sales and payments an existing warehouse holds again, with the running totals.
TRUNCATE analytics.sales_summary, analytics.sales_order_superseded, analytics.payment_summary,
    analytics.payment_superseded;
UPDATE analytics.summary_state SET last_record_id = 0 WHERE fact_table IN ('fact_sales_order', 'fact_payment');
SELECT analytics.refresh_summaries();

-- Only the app reads through running_at; the other functions are the load's.
REVOKE EXECUTE ON FUNCTION analytics.running_totals(integer[], bigint[]), analytics.add_running(bigint[], bigint[])
    FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION analytics.running_at(bigint[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.running_at(bigint[], integer) TO warehouse_reader;
