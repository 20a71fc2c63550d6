-- Schema `analytics`: what the analytics app (src/dashboard, docs/dashboard.md) reads
-- besides the star tables, and the read-only role it connects as.
--
-- Summaries of the current fact versions (per month and all time), kept by the load inside each run's
-- transaction (load calls analytics.refresh_summaries() once, after the facts): a run
-- folds only the fact rows it added, so a pipeline cycle costs little, and the summaries
-- are always exactly the facts they summarise (same commit). Money is summed per
-- currency_id, never across currencies.
--
-- "Current" is SPEC §2's: the version with the greatest (last_updated_date,
-- last_updated_time), ties by the greatest surrogate key. A version that stops being
-- current is listed in <fact>_superseded and its contribution is taken back out.
-- A deletion version (`is_deleted`, issue 14) counts for nothing once that column exists.

CREATE SCHEMA analytics;

-- How far each fact has been folded: every row with a surrogate key <= last_record_id
-- is counted in the summaries, or listed as superseded.
CREATE TABLE analytics.summary_state (
    fact_table     text PRIMARY KEY CHECK (fact_table IN ('fact_sales_order', 'fact_purchase_order', 'fact_payment')),
    last_record_id integer NOT NULL DEFAULT 0,
    refreshed_at   timestamptz
);
INSERT INTO analytics.summary_state (fact_table) VALUES ('fact_sales_order'), ('fact_purchase_order'), ('fact_payment');

-- Fact versions that are no longer current (a later version of the same source row exists).
CREATE TABLE analytics.sales_order_superseded (sales_record_id integer PRIMARY KEY);
CREATE TABLE analytics.purchase_order_superseded (purchase_record_id integer PRIMARY KEY);
CREATE TABLE analytics.payment_superseded (payment_record_id integer PRIMARY KEY);

-- Current sales orders per currency: 'total' rows for each month of created_date (period =
-- the month's first day) and for all time (period = '-infinity'); one all-time row per
-- member of a dimension (design, counterparty, staff, agreed delivery location; member_id
-- 0 for 'total'). Names come from the dimensions at query time (they are type 1). Per-month
-- member rows would be ~0.6 rows per order at 1M orders: too many to keep cheaply, so a
-- date range reads the facts instead (docs/dashboard.md).
CREATE TABLE analytics.sales_summary (
    breakdown   text NOT NULL CHECK (breakdown IN ('total', 'design', 'counterparty', 'staff', 'location')),
    period      date NOT NULL,
    currency_id integer NOT NULL,
    member_id   integer NOT NULL,
    orders      bigint NOT NULL,
    units       bigint NOT NULL,
    value       numeric NOT NULL,  -- sum(units_sold * unit_price), in currency_id
    PRIMARY KEY (breakdown, period, currency_id, member_id)
);

-- Current purchase orders per currency, as sales_summary: 'total' per month of created_date
-- and all time, 'counterparty' all time.
CREATE TABLE analytics.purchase_summary (
    breakdown   text NOT NULL CHECK (breakdown IN ('total', 'counterparty')),
    period      date NOT NULL,
    currency_id integer NOT NULL,
    member_id   integer NOT NULL,
    orders      bigint NOT NULL,
    units       bigint NOT NULL,
    value       numeric NOT NULL,  -- sum(item_quantity * item_unit_price), in currency_id
    PRIMARY KEY (breakdown, period, currency_id, member_id)
);

-- Current payments per currency: 'type' rows per payment type and paid flag for each month
-- of payment_date and all time (member_id 0); 'unpaid' rows per counterparty, all time,
-- unpaid payments only (payment_type_id 0, paid false).
CREATE TABLE analytics.payment_summary (
    breakdown       text NOT NULL CHECK (breakdown IN ('type', 'unpaid')),
    period          date NOT NULL,
    currency_id     integer NOT NULL,
    payment_type_id integer NOT NULL,
    paid            boolean NOT NULL,
    member_id       integer NOT NULL,
    payments        bigint NOT NULL,
    amount          numeric NOT NULL,  -- sum(payment_amount), in currency_id
    PRIMARY KEY (breakdown, period, currency_id, payment_type_id, paid, member_id)
);

-- 'NOT f.is_deleted' once the fact has issue 14's column, else 'true': deletion versions
-- are current but count for nothing.
CREATE FUNCTION analytics.live_predicate(fact text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('public.' || quote_ident(fact)) AND attname = 'is_deleted' AND NOT attisdropped
    ) THEN 'NOT f.is_deleted' ELSE 'true' END
$$;

-- The rows of `fact` with keys in (last, top] that are not current any more, plus older
-- versions they replace, minus what is already listed: added to <fact>_superseded and
-- returned. Candidates are the source ids of the new rows that have another version.
-- The table and column names below come from the CASE, never from the caller.
CREATE FUNCTION analytics.retire_versions(fact text, last integer, top integer)
RETURNS SETOF integer LANGUAGE plpgsql AS $$
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
            -- a source row seen twice in these rows ...
            SELECT key FROM fresh GROUP BY key HAVING count(*) > 1
            UNION
            -- ... or already stored before them (skipped on a first load: nothing is)
            SELECT fresh.key FROM fresh JOIN public.%1$I o ON o.%3$I = fresh.key
            WHERE $1 > 0 AND o.%2$I <= $1
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

CREATE FUNCTION analytics.refresh_sales(last integer, top integer) RETURNS void LANGUAGE plpgsql AS $$
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
        )
        INSERT INTO analytics.sales_summary AS s (breakdown, period, currency_id, member_id, orders, units, value)
        SELECT CASE
                   WHEN grouping(design_id) = 0 THEN 'design'
                   WHEN grouping(counterparty_id) = 0 THEN 'counterparty'
                   WHEN grouping(sales_staff_id) = 0 THEN 'staff'
                   WHEN grouping(agreed_delivery_location_id) = 0 THEN 'location'
                   ELSE 'total'
               END,
               CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END,
               currency_id,
               coalesce(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id, 0),
               sum(sign), sum(units), sum(cents) * 0.01
        FROM rows
        GROUP BY GROUPING SETS (
            (month, currency_id), (currency_id), (currency_id, design_id), (currency_id, counterparty_id),
            (currency_id, sales_staff_id), (currency_id, agreed_delivery_location_id)
        )
        ON CONFLICT (breakdown, period, currency_id, member_id) DO UPDATE
        SET orders = s.orders + excluded.orders, units = s.units + excluded.units, value = s.value + excluded.value
    $q$, analytics.live_predicate('fact_sales_order')) USING last, top, retired;
END
$$;

CREATE FUNCTION analytics.refresh_purchases(last integer, top integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    retired integer[] := ARRAY(SELECT analytics.retire_versions('fact_purchase_order', last, top));
BEGIN
    EXECUTE format($q$
        WITH delta AS (
            SELECT 1 AS sign, f.* FROM public.fact_purchase_order f
            WHERE f.purchase_record_id > $1 AND f.purchase_record_id <= $2 AND %1$s
            UNION ALL
            SELECT -1, f.* FROM public.fact_purchase_order f WHERE f.purchase_record_id = ANY($3) AND %1$s
        ),
        rows AS (
            SELECT sign, date_trunc('month', created_date::timestamp)::date AS month, currency_id, counterparty_id,
                   sign * item_quantity AS units, sign * (item_quantity * item_unit_price * 100)::bigint AS cents
            FROM delta
        )
        INSERT INTO analytics.purchase_summary AS s (breakdown, period, currency_id, member_id, orders, units, value)
        SELECT CASE WHEN grouping(counterparty_id) = 0 THEN 'counterparty' ELSE 'total' END,
               CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END,
               currency_id, coalesce(counterparty_id, 0), sum(sign), sum(units), sum(cents) * 0.01
        FROM rows
        GROUP BY GROUPING SETS ((month, currency_id), (currency_id), (currency_id, counterparty_id))
        ON CONFLICT (breakdown, period, currency_id, member_id) DO UPDATE
        SET orders = s.orders + excluded.orders, units = s.units + excluded.units, value = s.value + excluded.value
    $q$, analytics.live_predicate('fact_purchase_order')) USING last, top, retired;
END
$$;

CREATE FUNCTION analytics.refresh_payments(last integer, top integer) RETURNS void LANGUAGE plpgsql AS $$
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
                   sum(cents) * 0.01 AS amount
            FROM rows
            GROUP BY GROUPING SETS ((month, currency_id, payment_type_id, paid), (currency_id, payment_type_id, paid))
        ),
        unpaid AS (
            SELECT 'unpaid', '-infinity'::date, currency_id, 0, false, counterparty_id, sum(sign), sum(cents) * 0.01
            FROM rows WHERE NOT paid
            GROUP BY currency_id, counterparty_id
        )
        INSERT INTO analytics.payment_summary AS s
            (breakdown, period, currency_id, payment_type_id, paid, member_id, payments, amount)
        SELECT * FROM by_type UNION ALL SELECT * FROM unpaid
        ON CONFLICT (breakdown, period, currency_id, payment_type_id, paid, member_id) DO UPDATE
        SET payments = s.payments + excluded.payments, amount = s.amount + excluded.amount
    $q$, analytics.live_predicate('fact_payment')) USING last, top, retired;
END
$$;

-- Fold every fact row the summaries have not seen yet. Called by the load inside each
-- run's transaction (after the facts, before the ledger row), so the summaries commit
-- with the rows they summarise; cheap when nothing changed (three max() lookups).
CREATE FUNCTION analytics.refresh_summaries() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    st record;
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
        CASE st.fact_table
            WHEN 'fact_sales_order' THEN PERFORM analytics.refresh_sales(st.last_record_id, top);
            WHEN 'fact_purchase_order' THEN PERFORM analytics.refresh_purchases(st.last_record_id, top);
            WHEN 'fact_payment' THEN PERFORM analytics.refresh_payments(st.last_record_id, top);
        END CASE;
        UPDATE analytics.summary_state SET last_record_id = top, refreshed_at = now()
        WHERE fact_table = st.fact_table;
    END LOOP;
END
$$;

-- A fact emptied by TRUNCATE (`totes replay` clears the star tables, restarting the
-- surrogate keys) empties its summaries too, so the next refresh folds the reload from zero.
CREATE FUNCTION analytics.reset_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CASE TG_TABLE_NAME
        WHEN 'fact_sales_order' THEN TRUNCATE analytics.sales_summary, analytics.sales_order_superseded;
        WHEN 'fact_purchase_order' THEN TRUNCATE analytics.purchase_summary, analytics.purchase_order_superseded;
        WHEN 'fact_payment' THEN TRUNCATE analytics.payment_summary, analytics.payment_superseded;
    END CASE;
    UPDATE analytics.summary_state SET last_record_id = 0, refreshed_at = now() WHERE fact_table = TG_TABLE_NAME;
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_reset AFTER TRUNCATE ON public.fact_sales_order
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.reset_after_truncate();
CREATE TRIGGER analytics_reset AFTER TRUNCATE ON public.fact_purchase_order
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.reset_after_truncate();
CREATE TRIGGER analytics_reset AFTER TRUNCATE ON public.fact_payment
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.reset_after_truncate();

-- Pipeline health for the app, without access to the bookkeeping tables themselves.
CREATE VIEW analytics.load_runs AS
SELECT run_seq, loaded_at, max_source_last_updated, rows_quarantined, inferred_members, duration_ms,
       previous_run_seq
FROM pipeline.load_ledger;

CREATE VIEW analytics.load_quarantine_counts AS
SELECT table_name, count(*) AS rows, max(quarantined_at) AS last_quarantined_at
FROM pipeline.load_quarantine
GROUP BY table_name;

-- Fold what an existing warehouse already holds (nothing on a new one).
SELECT analytics.refresh_summaries();

-- The app's role: it reads the star schema and this schema, and nothing else. Created here
-- where the migrating role may create roles (CREATEROLE); the local stack and operators
-- create it beforehand otherwise, with a password (docs/dashboard.md). It starts NOLOGIN.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'warehouse_reader') THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
        RAISE EXCEPTION 'role warehouse_reader does not exist and % may not create roles', current_user
            USING HINT = 'Create it once as an administrator (CREATE ROLE warehouse_reader NOLOGIN), then migrate'
                         ' again; see docs/dashboard.md.';
    END IF;
    CREATE ROLE warehouse_reader NOLOGIN;
END
$$;
GRANT USAGE ON SCHEMA public, analytics TO warehouse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO warehouse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO warehouse_reader;
-- Star tables and views added later (exchange rates, ...) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO warehouse_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO warehouse_reader;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA analytics FROM PUBLIC;
