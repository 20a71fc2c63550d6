-- The dim_staff trigger only records a department change; the fold applies it (issue 15,
-- "without slowing run_load"; docs/dashboard.md, "Departments"; docs/benchmarks.md,
-- "Department changes queued for the fold").
--
-- 019-024's trigger regrouped a staff member's folded orders in department_summary inside
-- the statement that changed their department: the load's dimension upsert, in the load's
-- transaction (+0.19 backend CPU-s of a 1M batch with a rename and a staff move, ~+49 %
-- wall). The fold now runs after the load, in an invocation of its own, so the trigger only
-- appends each changed staff member's (old, new) department to analytics.department_change,
-- in order, and the fold (refresh_summaries) applies the queue first, in its own transaction,
-- then folds the new fact rows under dim_staff's departments as before.
--
-- The fold applies the NET change per staff member, not each statement again. What the
-- summary holds for a staff member is their orders in sales_current under the key of the
-- department they had at the last fold: the old name of their first queued change (every
-- change since that fold is queued, in order; analytics.department still maps names to keys
-- as at that fold, since only the fold writes it). Their department now is dim_staff's. So
-- what happened in between (renames, merges, splits, a department emptied and reused, a change
-- and its undo) does not matter, only where each staff member was counted and where they are
-- now. Staff members whose department is the same on net are left alone. Throughout, each
-- key's rows are the orders of the staff members it holds; in three steps:
--  1. renames: a key none of whose counted staff is still in its department (all of them
--     moved on) and whose staff mostly went to a name that holds no rows (no key, or a key
--     with no rows: its holders have no orders) takes that name; its rows stay as they are.
--     Repeated until none more can (a chain A -> B, B -> C renames B first).
--  2. merges: such a key that could not take its name (the name holds rows: a merge, or a
--     cycle A <-> B) has its rows added as they are to that name's key and deleted; the staff
--     it held are held by that key now (its rows and its holders move together).
--  3. regroups: every staff member whose holding key is not named for their department now is
--     taken out of it and added to their department's key, from their orders in
--     sales_current (fixed amounts: the order of the regroups is free).
-- Then every staff member's orders are under their department now, which is what a fold from
-- zero computes (the same keys: it finds them by name); the new fact rows follow. Renames and
-- merges only ever take keys whose staff all moved, so nobody who stayed is moved with them.

CREATE TABLE analytics.department_change (
    change_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- the order of the changes
    staff_id   integer NOT NULL,
    old_name   text NOT NULL,  -- dim_staff.department_name before the statement
    new_name   text NOT NULL   -- and after it
);

-- 022's trigger function: records the statement's changes, in staff_id order.
CREATE OR REPLACE FUNCTION analytics.move_departments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics.department_change (staff_id, old_name, new_name)
    SELECT o.staff_id, o.department_name, n.department_name
    FROM old_staff o JOIN new_staff n USING (staff_id)
    WHERE o.department_name IS DISTINCT FROM n.department_name
    ORDER BY o.staff_id;
    RETURN NULL;
END
$$;

-- Apply every queued department change to department_summary (above) and empty the queue.
-- Called by refresh_summaries before it folds new rows, under the load lock.
CREATE FUNCTION analytics.apply_department_changes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    staff integer[];       -- staff members whose department changed on net
    now_names text[];      -- their department in dim_staff now
    held_by integer[];     -- the key holding their orders (NULL: they have none)
    cand_keys integer[];   -- keys whose counted staff all moved, and the name most of them went to
    cand_names text[];
    renamed boolean[];
    progress boolean;
    target integer;
    i integer;
    j integer;
    source text;
BEGIN
    -- a load changing departments now waits for this fold (it would queue behind what is read here)
    LOCK TABLE analytics.department_change IN EXCLUSIVE MODE;
    IF NOT EXISTS (SELECT 1 FROM analytics.department_change) THEN
        RETURN;
    END IF;
    IF (SELECT last_record_id FROM analytics.summary_state WHERE fact_table = 'fact_sales_order') = 0 THEN
        DELETE FROM analytics.department_change;  -- nothing folded: the fold from zero counts dim_staff's now
        RETURN;
    END IF;
    SELECT array_agg(staff_id ORDER BY staff_id), array_agg(now_name ORDER BY staff_id),
           array_agg(department_key ORDER BY staff_id)
    INTO staff, now_names, held_by
    FROM (
        SELECT DISTINCT ON (c.staff_id) c.staff_id, c.old_name, st.department_name::text AS now_name
        FROM analytics.department_change c JOIN public.dim_staff st USING (staff_id)
        ORDER BY c.staff_id, c.change_id
    ) n
    LEFT JOIN analytics.department d ON d.department_name = n.old_name
    WHERE n.old_name <> n.now_name;
    DELETE FROM analytics.department_change;
    IF staff IS NULL THEN
        RETURN;  -- every change undone
    END IF;

    SELECT array_agg(k ORDER BY k), array_agg(went_to ORDER BY k), array_agg(false)
    INTO cand_keys, cand_names, renamed
    FROM (
        SELECT m.k, mode() WITHIN GROUP (ORDER BY m.now_name) AS went_to
        FROM unnest(held_by, now_names) AS m(k, now_name)
        WHERE m.k IS NOT NULL
        GROUP BY m.k
    ) c
    JOIN analytics.department d ON d.department_key = c.k
    WHERE NOT EXISTS (SELECT 1 FROM public.dim_staff st
                      WHERE st.department_name = d.department_name AND st.staff_id <> ALL(staff))
      AND EXISTS (SELECT 1 FROM analytics.department_summary s WHERE s.department_key = c.k);

    -- 1. renames, as long as one is possible
    LOOP
        progress := false;
        FOR i IN 1 .. coalesce(cardinality(cand_keys), 0) LOOP
            CONTINUE WHEN renamed[i];
            SELECT department_key INTO target FROM analytics.department WHERE department_name = cand_names[i];
            CONTINUE WHEN target IS NOT NULL
                          AND EXISTS (SELECT 1 FROM analytics.department_summary WHERE department_key = target);
            DELETE FROM analytics.department WHERE department_key = target;  -- a name with no rows
            UPDATE analytics.department SET department_name = cand_names[i] WHERE department_key = cand_keys[i];
            renamed[i] := true;
            progress := true;
        END LOOP;
        EXIT WHEN NOT progress;
    END LOOP;

    -- 2. merges into the key of the name most of its staff went to (which holds rows)
    FOR i IN 1 .. coalesce(cardinality(cand_keys), 0) LOOP
        CONTINUE WHEN renamed[i];
        SELECT department_key INTO target FROM analytics.department WHERE department_name = cand_names[i];
        PERFORM analytics.add_to_department_summary(format(
            'SELECT %s, breakdown, period, currency_id, member_id, orders, units, cents'
            ' FROM analytics.department_summary WHERE department_key = %s', target, cand_keys[i]), true);
        DELETE FROM analytics.department_summary WHERE department_key = cand_keys[i];
        FOR j IN 1 .. cardinality(staff) LOOP
            IF held_by[j] = cand_keys[i] THEN
                held_by[j] := target;
            END IF;
        END LOOP;
    END LOOP;

    -- 3. regroups of whoever is not under their department now
    FOR i IN 1 .. cardinality(staff) LOOP
        CONTINUE WHEN held_by[i] IS NULL;
        SELECT department_name INTO source FROM analytics.department WHERE department_key = held_by[i];
        CONTINUE WHEN source IS NULL OR source = now_names[i];  -- a key with no rows was renamed over
        PERFORM analytics.count_in_departments(-1, quote_literal(source), format('f.sales_staff_id = %s', staff[i]),
                                               NULL, NULL, NULL, true);
        PERFORM analytics.count_in_departments(1, quote_literal(now_names[i]),
                                               format('f.sales_staff_id = %s', staff[i]), NULL, NULL, NULL, true);
    END LOOP;
END
$$;

-- 014's, also emptying the queue: what it changes is folded from zero next.
CREATE OR REPLACE FUNCTION analytics.clear_summaries(fact text, how text DEFAULT 'delete') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tables text[];
    t text;
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN
            tables := ARRAY['sales_summary', 'sales_order_superseded', 'sales_current', 'department_summary',
                            'department_change'];
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

-- 014's, emptying the queue with department_summary.
CREATE OR REPLACE FUNCTION analytics.rebuild_current(fact text, top integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE fact
        WHEN 'fact_sales_order' THEN
            TRUNCATE analytics.sales_current, analytics.department_summary, analytics.department_change;
        WHEN 'fact_purchase_order' THEN TRUNCATE analytics.purchase_current;
        WHEN 'fact_payment' THEN TRUNCATE analytics.payment_current;
    END CASE;
    PERFORM analytics.keep_current(fact, 0, top, '{}');
END
$$;

-- 011's, applying the queued department changes before it folds (also when no fact row is new).
CREATE OR REPLACE FUNCTION analytics.refresh_summaries(through_run integer DEFAULT NULL, rebuild_at real DEFAULT 1)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    st record;
    last integer;
    top integer;
BEGIN
    -- A first load folds a million rows: keep its hash tables in memory (until this transaction ends).
    PERFORM set_config('work_mem', '256MB', true);
    PERFORM analytics.apply_department_changes();
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

REVOKE EXECUTE ON FUNCTION analytics.apply_department_changes() FROM PUBLIC;
