-- Member filters without reading the facts (issue 15, "fast at 1M"; docs/dashboard.md,
-- docs/benchmarks.md "Member filters").
--
-- A page filtered by a counterparty, design, staff member or department cannot be answered
-- by the summaries (they are kept per member of one dimension at a time), so it grouped the
-- current versions itself: a parallel scan of the whole fact, each row checked against
-- <fact>_superseded and the live flag. These tables hold the current, live version of each
-- source row only, with just the columns the pages group and filter by (money as integer
-- cents, the month of its date), indexed by the members the filters pick: a filter reads its
-- member's rows through an index instead of the fact.
--
-- Kept by the fold in the same transaction as the summaries: retire_versions, which finds the
-- versions that stop being current, now also deletes them here and adds the run's rows that
-- are current and live (analytics.keep_current). A deletion version is never added; the
-- version it deletes is retired, so its row goes. analytics.rebuild_current(fact, top) refills one
-- table from the facts and <fact>_superseded in one statement (this migration); a rebuild
-- of the summaries (011's clear_summaries, folded from zero) empties and refills them too.
--
-- Also one name for the Sales summaries' five groupings: analytics.sales_breakdown(kind), kind
-- being grouping(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id).
-- The fold (refresh_sales, replaced below) and the app's pages (dashboard/sales.py) both call it.

CREATE TABLE analytics.sales_current (
    sales_record_id             integer PRIMARY KEY,
    sales_staff_id              integer NOT NULL,
    counterparty_id             integer NOT NULL,
    design_id                   integer NOT NULL,
    agreed_delivery_location_id integer NOT NULL,
    currency_id                 integer NOT NULL,
    month                       date NOT NULL,     -- first day of the month of created_date
    units_sold                  integer NOT NULL,
    cents                       bigint NOT NULL    -- units_sold * unit_price in cents of currency_id
);
CREATE INDEX sales_current_staff ON analytics.sales_current (sales_staff_id);
CREATE INDEX sales_current_counterparty ON analytics.sales_current (counterparty_id);
CREATE INDEX sales_current_design ON analytics.sales_current (design_id);

CREATE TABLE analytics.purchase_current (
    purchase_record_id integer PRIMARY KEY,
    counterparty_id    integer NOT NULL,
    currency_id        integer NOT NULL,
    month              date NOT NULL,  -- of created_date
    cents              bigint NOT NULL -- item_quantity * item_unit_price
);
CREATE INDEX purchase_current_counterparty ON analytics.purchase_current (counterparty_id);

CREATE TABLE analytics.payment_current (
    payment_record_id integer PRIMARY KEY,
    counterparty_id   integer NOT NULL,
    currency_id       integer NOT NULL,
    payment_type_id   integer NOT NULL,
    paid              boolean NOT NULL,
    month             date NOT NULL,  -- of payment_date
    cents             bigint NOT NULL -- payment_amount
);
CREATE INDEX payment_current_counterparty ON analytics.payment_current (counterparty_id);

-- The breakdown a row of the Sales groupings belongs to, from
-- grouping(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id).
CREATE FUNCTION analytics.sales_breakdown(kind integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE kind WHEN 7 THEN 'design' WHEN 11 THEN 'counterparty' WHEN 13 THEN 'staff'
                     WHEN 14 THEN 'location' WHEN 15 THEN 'total' END
$$;

-- What the tables hold, read from the facts: the current, live versions folded so far
-- (keep_current fills the tables from these; the benchmark reads them as the pages did before).
CREATE VIEW analytics.sales_current_of_facts AS
SELECT f.sales_record_id, f.sales_staff_id, f.counterparty_id, f.design_id, f.agreed_delivery_location_id,
       f.currency_id, date_trunc('month', f.created_date::timestamp)::date AS month, f.units_sold,
       (f.units_sold * f.unit_price * 100)::bigint AS cents  -- exact: prices have 2 decimals
FROM public.fact_sales_order f
WHERE NOT f.is_deleted
  AND NOT EXISTS (SELECT 1 FROM analytics.sales_order_superseded s WHERE s.sales_record_id = f.sales_record_id);

CREATE VIEW analytics.purchase_current_of_facts AS
SELECT f.purchase_record_id, f.counterparty_id, f.currency_id,
       date_trunc('month', f.created_date::timestamp)::date AS month,
       (f.item_quantity * f.item_unit_price * 100)::bigint AS cents
FROM public.fact_purchase_order f
WHERE NOT f.is_deleted
  AND NOT EXISTS (SELECT 1 FROM analytics.purchase_order_superseded s WHERE s.purchase_record_id = f.purchase_record_id);

CREATE VIEW analytics.payment_current_of_facts AS
SELECT f.payment_record_id, f.counterparty_id, f.currency_id, f.payment_type_id, f.paid,
       date_trunc('month', f.payment_date::timestamp)::date AS month, (f.payment_amount * 100)::bigint AS cents
FROM public.fact_payment f
WHERE NOT f.is_deleted
  AND NOT EXISTS (SELECT 1 FROM analytics.payment_superseded s WHERE s.payment_record_id = f.payment_record_id);

-- The current-versions table of `fact` after a fold of its rows (last, top]: `retired` (just
-- listed in <fact>_superseded) leave; the new rows that are live and not superseded come in.
CREATE FUNCTION analytics.keep_current(fact text, last integer, top integer, retired integer[])
RETURNS void LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN
            DELETE FROM analytics.sales_current WHERE sales_record_id = ANY(retired);
            EXECUTE 'INSERT INTO analytics.sales_current SELECT * FROM analytics.sales_current_of_facts'
                    ' WHERE sales_record_id > $1 AND sales_record_id <= $2' USING last, top;
        WHEN 'fact_purchase_order' THEN
            DELETE FROM analytics.purchase_current WHERE purchase_record_id = ANY(retired);
            EXECUTE 'INSERT INTO analytics.purchase_current SELECT * FROM analytics.purchase_current_of_facts'
                    ' WHERE purchase_record_id > $1 AND purchase_record_id <= $2' USING last, top;
        WHEN 'fact_payment' THEN
            DELETE FROM analytics.payment_current WHERE payment_record_id = ANY(retired);
            EXECUTE 'INSERT INTO analytics.payment_current SELECT * FROM analytics.payment_current_of_facts'
                    ' WHERE payment_record_id > $1 AND payment_record_id <= $2' USING last, top;
    END CASE;
END
$$;

-- Refill the current-versions table of `fact` with its rows up to `top` (the last folded:
-- <fact>_superseded must already list the versions among them that are not current).
CREATE FUNCTION analytics.rebuild_current(fact text, top integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN TRUNCATE analytics.sales_current;
        WHEN 'fact_purchase_order' THEN TRUNCATE analytics.purchase_current;
        WHEN 'fact_payment' THEN TRUNCATE analytics.payment_current;
    END CASE;
    PERFORM analytics.keep_current(fact, 0, top, '{}');
END
$$;

-- 010's, now also keeping the current-versions table (keep_current) with what it retires.
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
            WHERE NOT EXISTS (SELECT 1 FROM analytics.%4$I s WHERE s.%2$I = v.id)
        ),
        listed AS (
            INSERT INTO analytics.%4$I (%2$I) SELECT id FROM retired RETURNING %2$I AS id
        )
        SELECT coalesce(array_agg(id), '{}') FROM listed
    $q$, fact, id_col, key_col, superseded) INTO retired USING last, top;
    PERFORM analytics.keep_current(fact, last, top, retired);
    RETURN QUERY SELECT unnest(retired);
END
$$;

-- 010's, with the breakdown named by analytics.sales_breakdown.
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
    $q$, analytics.live_predicate('fact_sales_order')) USING last, top, retired;
END
$$;

-- 011's, clearing the current-versions table with the summaries (a rebuild, a TRUNCATE of the fact).
CREATE OR REPLACE FUNCTION analytics.clear_summaries(fact text, how text DEFAULT 'delete') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tables text[];
    t text;
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN tables := ARRAY['sales_summary', 'sales_order_superseded', 'sales_current'];
        WHEN 'fact_purchase_order' THEN
            tables := ARRAY['purchase_summary', 'purchase_order_superseded', 'purchase_current'];
        WHEN 'fact_payment' THEN tables := ARRAY['payment_summary', 'payment_superseded', 'payment_current'];
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

-- What an existing warehouse holds, up to what the summaries have folded.
SELECT analytics.rebuild_current(fact_table, last_record_id) FROM analytics.summary_state ORDER BY fact_table;

REVOKE EXECUTE ON FUNCTION analytics.keep_current(text, integer, integer, integer[]),
    analytics.rebuild_current(text, integer), analytics.sales_breakdown(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics.sales_breakdown(integer) TO warehouse_reader;
