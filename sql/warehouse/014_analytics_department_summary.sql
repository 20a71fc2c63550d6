-- The Sales page filtered by a department, from a summary (issue 15, "fast at 1M";
-- docs/dashboard.md, docs/benchmarks.md "Member filters").
--
-- A department is ~10 % of the orders: grouping its ~110k current versions five ways on
-- every request cost ~0.5 CPU-s at 1M even from analytics.sales_current (012). Its
-- figures per staff member and design / counterparty / location would be larger than the
-- fact (2.6M cells at 1M), so they are kept per DEPARTMENT: ~153k rows at 1M, the rows of
-- sales_summary's shape (all-time member rows, month totals) with a department_name in
-- front. A department page (no other member filter, no date range) reads its ~15k rows.
--
-- Departments are a type-1 attribute of dim_staff, so the rows are keyed by each staff
-- member's CURRENT department: a trigger on dim_staff moves a staff member's orders (their
-- rows in sales_current, which are exactly what has been folded) from the old department
-- to the new one in the same statement that changes it (the load's dimension upsert, an
-- inferred member getting its real department). The fold adds and takes back orders as
-- keep_current adds and removes them from sales_current, under dim_staff's department.
--
-- Also: a first load's or a rebuild's fold fills the empty current-versions tables before
-- building their member indexes (analytics.fill_current).

CREATE TABLE analytics.department_summary (
    department_name text NOT NULL,
    breakdown       text NOT NULL CHECK (breakdown IN ('total', 'design', 'counterparty', 'staff', 'location')),
    period          date NOT NULL,  -- month for 'total' rows, '-infinity' for all time
    currency_id     integer NOT NULL,
    member_id       integer NOT NULL,
    orders          bigint NOT NULL,
    units           bigint NOT NULL,
    cents           bigint NOT NULL,  -- in currency_id
    PRIMARY KEY (department_name, breakdown, period, currency_id, member_id)
);
CREATE INDEX department_summary_emptied ON analytics.department_summary (orders) WHERE orders = 0;

-- Add `sign` times the sales_current rows that pass `rows_where` to the department
-- `department` (an SQL expression over f, the sales_current row, and st, its dim_staff row).
-- $1 .. $3 in rows_where are `ids`, `last`, `top`. Only this migration's functions call it.
CREATE FUNCTION analytics.count_in_departments(
    sign integer, department text, rows_where text, ids integer[], last integer, top integer
) RETURNS void LANGUAGE plpgsql
-- a first load counts a million rows: hash them (retire_versions, which calls this, turns hashing off)
SET jit = off SET enable_hashagg = on SET enable_hashjoin = on
AS $$
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
        ON CONFLICT (department_name, breakdown, period, currency_id, member_id) DO UPDATE
        SET orders = d.orders + excluded.orders, units = d.units + excluded.units, cents = d.cents + excluded.cents
    $q$, sign, department, rows_where) USING ids, last, top;
    -- a cell whose orders all left holds nothing (a rebuild would not write it)
    DELETE FROM analytics.department_summary WHERE orders = 0;
END
$$;

-- Add the rows (last, top] of analytics.<fact>_current_of_facts to the current-versions table
-- `tbl`. Into an empty table (last = 0: a first load, a rebuild) without its member indexes,
-- built again after the rows: inserting a million rows into three indexes of a few thousand
-- distinct keys each cost ~3x as much backend CPU as the rows themselves (docs/benchmarks.md).
-- The indexes' lock is held until the fold commits: member-filter pages wait for a first
-- load's or a rebuild's fold (the tables are empty or cleared then anyway).
CREATE FUNCTION analytics.fill_current(tbl text, id_col text, last integer, top integer)
RETURNS void LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    rebuild text[];
    idx text;
BEGIN
    IF last = 0 THEN
        SELECT array_agg(pg_get_indexdef(i.indexrelid)), string_agg(i.indexrelid::regclass::text, ', ')
        INTO rebuild, idx
        FROM pg_index i WHERE i.indrelid = format('analytics.%I', tbl)::regclass AND NOT i.indisprimary;
        IF idx IS NOT NULL THEN
            EXECUTE 'DROP INDEX ' || idx;
        END IF;
    END IF;
    EXECUTE format('INSERT INTO analytics.%1$I SELECT * FROM analytics.%2$I WHERE %3$I > $1 AND %3$I <= $2',
                   tbl, tbl || '_of_facts', id_col) USING last, top;
    FOREACH idx IN ARRAY coalesce(rebuild, '{}') LOOP
        EXECUTE idx;
    END LOOP;
END
$$;

-- 012's, keeping department_summary with sales_current (and filling an empty table in bulk).
CREATE OR REPLACE FUNCTION analytics.keep_current(fact text, last integer, top integer, retired integer[])
RETURNS void LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN
            IF cardinality(retired) > 0 THEN
                PERFORM analytics.count_in_departments(-1, 'st.department_name', 'f.sales_record_id = ANY($1)',
                                                       retired, last, top);
                DELETE FROM analytics.sales_current WHERE sales_record_id = ANY(retired);
            END IF;
            PERFORM analytics.fill_current('sales_current', 'sales_record_id', last, top);
            PERFORM analytics.count_in_departments(1, 'st.department_name',
                                                   'f.sales_record_id > $2 AND f.sales_record_id <= $3',
                                                   retired, last, top);
        WHEN 'fact_purchase_order' THEN
            DELETE FROM analytics.purchase_current WHERE purchase_record_id = ANY(retired);
            PERFORM analytics.fill_current('purchase_current', 'purchase_record_id', last, top);
        WHEN 'fact_payment' THEN
            DELETE FROM analytics.payment_current WHERE payment_record_id = ANY(retired);
            PERFORM analytics.fill_current('payment_current', 'payment_record_id', last, top);
    END CASE;
END
$$;

-- A staff member's orders move with them to their new department.
CREATE FUNCTION analytics.move_department() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics.count_in_departments(-1, quote_literal(OLD.department_name),
                                           format('f.sales_staff_id = %s', OLD.staff_id), NULL, NULL, NULL);
    PERFORM analytics.count_in_departments(1, quote_literal(NEW.department_name),
                                           format('f.sales_staff_id = %s', NEW.staff_id), NULL, NULL, NULL);
    RETURN NULL;
END
$$;
CREATE TRIGGER analytics_department AFTER UPDATE OF department_name ON public.dim_staff
    FOR EACH ROW WHEN (OLD.department_name IS DISTINCT FROM NEW.department_name)
    EXECUTE FUNCTION analytics.move_department();

-- 012's, refilling department_summary with sales_current.
CREATE OR REPLACE FUNCTION analytics.rebuild_current(fact text, top integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN TRUNCATE analytics.sales_current, analytics.department_summary;
        WHEN 'fact_purchase_order' THEN TRUNCATE analytics.purchase_current;
        WHEN 'fact_payment' THEN TRUNCATE analytics.payment_current;
    END CASE;
    PERFORM analytics.keep_current(fact, 0, top, '{}');
END
$$;

-- 012's, clearing department_summary with the sales summaries.
CREATE OR REPLACE FUNCTION analytics.clear_summaries(fact text, how text DEFAULT 'delete') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tables text[];
    t text;
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN
            tables := ARRAY['sales_summary', 'sales_order_superseded', 'sales_current', 'department_summary'];
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

-- What an existing warehouse's sales_current holds.
SELECT analytics.count_in_departments(1, 'st.department_name', 'true', NULL, NULL, NULL);

REVOKE EXECUTE ON FUNCTION analytics.count_in_departments(integer, text, text, integer[], integer, integer),
    analytics.fill_current(text, text, integer, integer), analytics.move_department() FROM PUBLIC;
