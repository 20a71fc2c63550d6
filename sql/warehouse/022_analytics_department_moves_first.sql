-- A department renamed while someone joins it in the same statement is still renamed by its key
-- (issue 15; docs/dashboard.md, "Departments").
--
-- 021's trigger took the departments of a statement one at a time, each one's move (renamed
-- by its key, or merged) and then its staff members' regroups. A staff member who joined the
-- renamed department's new name from another department (a simulated batch moves one staff
-- member to a random department as it renames one) could be regrouped first: the new name
-- then held that staff member's rows, and the renamed department was MERGED into it, all of
-- its rows moved (~15.7k at 1M), by the order of the departments in a hash. Now every emptied
-- department is moved first and the regroups follow. A move does not change which key holds a
-- regrouped staff member's orders (a department is only renamed into a name with no rows, and
-- a merge keeps the receiving key), and every regroup adds fixed amounts, so the order is free.

CREATE OR REPLACE FUNCTION analytics.move_departments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved record;
    source text;  -- where the moved staff members' orders are counted when they are regrouped
    old_key integer;
    new_key integer;
    regroup_staff integer[] := '{}';  -- regrouped after every move: staff member, from, to
    regroup_from text[] := '{}';
    regroup_to text[] := '{}';
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
            regroup_staff := regroup_staff || moved.staff_ids[i];
            regroup_from := regroup_from || source;
            regroup_to := regroup_to || moved.new_names[i]::text;
        END LOOP;
    END LOOP;
    FOR i IN 1 .. cardinality(regroup_staff) LOOP
        PERFORM analytics.count_in_departments(-1, quote_literal(regroup_from[i]),
                                               format('f.sales_staff_id = %s', regroup_staff[i]),
                                               NULL, NULL, NULL, true);
        PERFORM analytics.count_in_departments(1, quote_literal(regroup_to[i]),
                                               format('f.sales_staff_id = %s', regroup_staff[i]),
                                               NULL, NULL, NULL, true);
    END LOOP;
    RETURN NULL;
END
$$;
