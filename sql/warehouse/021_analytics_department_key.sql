-- A department renamed updates one row (issue 15, "without slowing run_load"; docs/dashboard.md,
-- "Departments"; docs/benchmarks.md, "A department renamed by its key").
--
-- department_summary (014) was keyed by the department's NAME, so a rename (every simulated
-- pipeline batch has one; totesys renames a department and the load's type-1 upsert changes
-- each of its staff in dim_staff) moved the department's rows to the new name (020): ~15.7k
-- rows inserted and deleted at 1M, 0.44 backend CPU-s of a batch whose load costs 0.11
-- without summaries. The rows are now keyed by a surrogate, analytics.department
-- (department_key, department_name): a department left with nobody whose staff went to a name
-- that holds no rows is renamed by updating its one analytics.department row. A merge into a
-- name that has rows adds the rows as they are, as 020 did; a staff member moving alone, a
-- swap and the others who left an emptied department are regrouped as before.
--
-- Also: one function adds rows to department_summary (analytics.add_to_department_summary,
-- which 020's trigger restated), and count_in_departments is told whether to merge (016 chose
-- by whether the primary key existed at the time).

CREATE TABLE analytics.department (
    department_key  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    department_name text NOT NULL UNIQUE  -- dim_staff's name; a name with no key has no rows
);

-- The existing rows, as they are: each name gets a key.
INSERT INTO analytics.department (department_name)
SELECT DISTINCT department_name FROM analytics.department_summary ORDER BY 1;
ALTER TABLE analytics.department_summary RENAME TO department_summary_by_name;
ALTER TABLE analytics.department_summary_by_name RENAME CONSTRAINT department_summary_pkey
    TO department_summary_by_name_pkey;
ALTER INDEX analytics.department_summary_emptied RENAME TO department_summary_by_name_emptied;
CREATE TABLE analytics.department_summary (
    department_key  integer NOT NULL,  -- analytics.department (no foreign key: a first fold writes ~150k rows)
    breakdown       text NOT NULL CHECK (breakdown IN ('total', 'design', 'counterparty', 'staff', 'location')),
    period          date NOT NULL,  -- month for 'total' rows, '-infinity' for all time
    currency_id     integer NOT NULL,
    member_id       integer NOT NULL,
    orders          bigint NOT NULL,
    units           bigint NOT NULL,
    cents           bigint NOT NULL,  -- in currency_id
    PRIMARY KEY (department_key, breakdown, period, currency_id, member_id)
);
INSERT INTO analytics.department_summary
SELECT d.department_key, s.breakdown, s.period, s.currency_id, s.member_id, s.orders, s.units, s.cents
FROM analytics.department_summary_by_name s JOIN analytics.department d USING (department_name);
DROP TABLE analytics.department_summary_by_name;
CREATE INDEX department_summary_emptied ON analytics.department_summary (orders) WHERE orders = 0;

-- Add the rows of `cells` (a SELECT of department_key, breakdown, period, currency_id,
-- member_id, orders, units, cents; $1 .. $3 in it are `ids`, `last`, `top`) to
-- department_summary. `merge`: add them to the rows already there (and drop the cells left at
-- zero); otherwise they are all new (a fill from zero, with the primary key dropped).
CREATE FUNCTION analytics.add_to_department_summary(
    cells text, merge boolean, ids integer[] DEFAULT NULL, last integer DEFAULT NULL, top integer DEFAULT NULL
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        INSERT INTO analytics.department_summary AS d
            (department_key, breakdown, period, currency_id, member_id, orders, units, cents)
        %1$s
        %2$s
    $q$, cells, CASE WHEN merge THEN $c$
        ON CONFLICT (department_key, breakdown, period, currency_id, member_id) DO UPDATE
        SET orders = d.orders + excluded.orders, units = d.units + excluded.units, cents = d.cents + excluded.cents
    $c$ ELSE '' END) USING ids, last, top;
    IF merge THEN
        -- a cell whose orders all left holds nothing (a rebuild would not write it)
        DELETE FROM analytics.department_summary WHERE orders = 0;
    END IF;
END
$$;

-- Add `sign` times the sales_current rows that pass `rows_where` to the department named
-- `department` (an SQL expression over f, the sales_current row, and st, its dim_staff row).
-- $1 .. $3 in rows_where are `ids`, `last`, `top`. `merge` as add_to_department_summary's.
DROP FUNCTION analytics.count_in_departments(integer, text, text, integer[], integer, integer);
CREATE FUNCTION analytics.count_in_departments(
    sign integer, department text, rows_where text, ids integer[], last integer, top integer, merge boolean
) RETURNS void LANGUAGE plpgsql
-- a first load counts a million rows: hash them (retire_versions, which calls this, turns hashing off)
SET jit = off SET enable_hashagg = on SET enable_hashjoin = on
AS $$
BEGIN
    -- every name the rows can go to has a key (dim_staff is small: ~2k staff at 1M)
    EXECUTE format($q$
        INSERT INTO analytics.department (department_name)
        SELECT DISTINCT %1$s FROM public.dim_staff st
        WHERE NOT EXISTS (SELECT 1 FROM analytics.department d WHERE d.department_name = %1$s)
    $q$, department);
    PERFORM analytics.add_to_department_summary(format($q$
        SELECT department_key,
               analytics.sales_breakdown(grouping(design_id, counterparty_id, sales_staff_id,
                                                  agreed_delivery_location_id)),
               CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END, currency_id,
               coalesce(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id, 0),
               %1$s * count(*), %1$s * sum(units_sold), %1$s * sum(cents)
        FROM (
            SELECT d.department_key, f.*
            FROM analytics.sales_current f JOIN public.dim_staff st ON st.staff_id = f.sales_staff_id
                 JOIN analytics.department d ON d.department_name = %2$s
            WHERE %3$s
        ) r
        GROUP BY GROUPING SETS (
            (department_key, month, currency_id), (department_key, currency_id, design_id),
            (department_key, currency_id, counterparty_id), (department_key, currency_id, sales_staff_id),
            (department_key, currency_id, agreed_delivery_location_id)
        )
    $q$, sign, department, rows_where), merge, ids, last, top);
END
$$;

-- 016's, saying when department_summary is filled from zero.
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
                                                       retired, last, top, true);
                DELETE FROM analytics.sales_current WHERE sales_record_id = ANY(retired);
            END IF;
            PERFORM analytics.fill_current('sales_current', 'sales_record_id', last, top);
            IF last = 0 THEN  -- sales_current was empty: so is department_summary (cleared with it)
                rebuild := analytics.drop_indexes('analytics.department_summary');
            END IF;
            PERFORM analytics.count_in_departments(1, 'st.department_name',
                                                   'f.sales_record_id > $2 AND f.sales_record_id <= $3',
                                                   retired, last, top, last > 0);
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

-- 020's, renaming a department emptied into a name that holds no rows by its key.
CREATE OR REPLACE FUNCTION analytics.move_departments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved record;
    source text;  -- where the moved staff members' orders are counted when they are regrouped
    old_key integer;
    new_key integer;
    i integer;
BEGIN
    FOR moved IN
        SELECT o.department_name AS old_name,
               array_agg(n.staff_id ORDER BY n.staff_id) AS staff_ids,
               array_agg(n.department_name ORDER BY n.staff_id) AS new_names,
               mode() WITHIN GROUP (ORDER BY n.department_name) AS most_went_to
        FROM old_staff o JOIN new_staff n USING (staff_id)
        WHERE o.department_name IS DISTINCT FROM n.department_name
        GROUP BY o.department_name
    LOOP
        source := moved.old_name;
        IF NOT EXISTS (SELECT 1 FROM public.dim_staff WHERE department_name = moved.old_name) THEN
            -- left with nobody: its rows are exactly the orders of the staff who left it
            SELECT department_key INTO old_key FROM analytics.department WHERE department_name = moved.old_name;
            SELECT department_key INTO new_key FROM analytics.department WHERE department_name = moved.most_went_to;
            IF old_key IS NULL THEN
                NULL;  -- it never had orders: nothing to move
            ELSIF new_key IS NULL
                  OR NOT EXISTS (SELECT 1 FROM analytics.department_summary WHERE department_key = new_key) THEN
                -- renamed: the new name holds nothing, so the rows keep their key and it takes the name
                DELETE FROM analytics.department WHERE department_key = new_key;
                UPDATE analytics.department SET department_name = moved.most_went_to WHERE department_key = old_key;
            ELSE
                -- merged into a name that has rows of its own: they add up
                PERFORM analytics.add_to_department_summary(format(
                    'SELECT %s, breakdown, period, currency_id, member_id, orders, units, cents'
                    ' FROM analytics.department_summary WHERE department_key = %s', new_key, old_key), true);
                DELETE FROM analytics.department_summary WHERE department_key = old_key;
            END IF;
            source := moved.most_went_to;
        END IF;
        FOR i IN 1 .. cardinality(moved.staff_ids) LOOP
            CONTINUE WHEN moved.new_names[i] = source;
            PERFORM analytics.count_in_departments(-1, quote_literal(source),
                                                   format('f.sales_staff_id = %s', moved.staff_ids[i]),
                                                   NULL, NULL, NULL, true);
            PERFORM analytics.count_in_departments(1, quote_literal(moved.new_names[i]),
                                                   format('f.sales_staff_id = %s', moved.staff_ids[i]),
                                                   NULL, NULL, NULL, true);
        END LOOP;
    END LOOP;
    RETURN NULL;
END
$$;

REVOKE EXECUTE ON FUNCTION analytics.add_to_department_summary(text, boolean, integer[], integer, integer),
    analytics.count_in_departments(integer, text, text, integer[], integer, integer, boolean) FROM PUBLIC;
