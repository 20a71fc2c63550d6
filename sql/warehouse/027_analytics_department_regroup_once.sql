-- The fold regroups every moved staff member in one statement (issue 15; docs/dashboard.md,
-- "Departments"; docs/benchmarks.md, "Department changes queued for the fold").
--
-- 026's apply_department_changes regrouped each staff member who was not under their
-- department now with two count_in_departments calls: their orders grouped twice, two
-- INSERT ... ON CONFLICT statements, each planned again. A department split among names
-- (020's case: most of its staff go to one name, the rest elsewhere) or a reorganisation of
-- many staff members made that two statements per staff member. Now their orders are read
-- once, through sales_current_staff, grouped once per key with a sign (-1 for the key holding
-- them, +1 for their department's), and written in one INSERT ... ON CONFLICT (each cell
-- once: two staff members swapping departments net out in the same cell). Steps 1 and 2 and
-- the queue are 026's.

-- 026's, step 3 in one statement.
CREATE OR REPLACE FUNCTION analytics.apply_department_changes() RETURNS void LANGUAGE plpgsql
-- the regrouped staff members' orders through sales_current_staff, whatever the statistics say
SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
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
    moved_staff integer[];  -- regrouped: staff member, the key holding their orders, their department now
    moved_from integer[];
    moved_to text[];
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

    -- 3. regroups of whoever is not under their department now, in one statement: their orders
    -- grouped once, taken out of the key holding them and added to their department's
    SELECT array_agg(m.s), array_agg(m.h), array_agg(m.now_name)
    INTO moved_staff, moved_from, moved_to
    FROM unnest(staff, held_by, now_names) AS m(s, h, now_name)
    JOIN analytics.department d ON d.department_key = m.h  -- no key: a key with no rows renamed over
    WHERE d.department_name <> m.now_name;
    IF moved_staff IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO analytics.department (department_name)
    SELECT DISTINCT n FROM unnest(moved_to) AS n
    ON CONFLICT (department_name) DO NOTHING;
    PERFORM analytics.add_to_department_summary(format($q$
        SELECT department_key,
               analytics.sales_breakdown(grouping(design_id, counterparty_id, sales_staff_id,
                                                  agreed_delivery_location_id)),
               CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END, currency_id,
               coalesce(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id, 0),
               sum(sign), sum(sign * units_sold), sum(sign * cents)
        FROM (
            SELECT v.department_key, v.sign, f.*
            FROM unnest(%L::integer[], %L::integer[], %L::text[]) AS m(staff_id, held_by, now_name)
                 JOIN analytics.department d ON d.department_name = m.now_name
                 JOIN analytics.sales_current f ON f.sales_staff_id = m.staff_id
                 CROSS JOIN LATERAL (VALUES (m.held_by, -1), (d.department_key, 1)) AS v(department_key, sign)
        ) r
        GROUP BY GROUPING SETS (
            (department_key, month, currency_id), (department_key, currency_id, design_id),
            (department_key, currency_id, counterparty_id), (department_key, currency_id, sales_staff_id),
            (department_key, currency_id, agreed_delivery_location_id)
        )
    $q$, moved_staff, moved_from, moved_to), true);
END
$$;
