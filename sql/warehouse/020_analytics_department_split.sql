-- A department emptied in a statement moves its summary rows as they are even when some of
-- its staff went to another name (issue 15; docs/benchmarks.md, "A department renamed").
--
-- 019 moved a department's rows as they are only when all of its staff went to one name;
-- otherwise every moved staff member was regrouped. The simulator's batches (and a real
-- reorganisation) can rename a department while one of its staff moves elsewhere: then the
-- whole department was regrouped, 23.5 backend CPU-s of one incremental load at 1M. Now a
-- department left with nobody after the statement holds exactly the orders of the staff who
-- left it: its rows are added as they are to the name most of them went to and deleted, and
-- only those who went elsewhere are regrouped from there. A staff member leaving a
-- department that keeps others is regrouped as before. A department moved as it is receives
-- nothing and loses nothing else in the statement, and every other step adds or takes away
-- fixed amounts, so the order of the steps does not matter.

CREATE OR REPLACE FUNCTION analytics.move_departments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved record;
    source text;  -- where the moved staff members' orders are counted when they are regrouped
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
            INSERT INTO analytics.department_summary AS d
                (department_name, breakdown, period, currency_id, member_id, orders, units, cents)
            SELECT moved.most_went_to, breakdown, period, currency_id, member_id, orders, units, cents
            FROM analytics.department_summary WHERE department_name = moved.old_name
            ON CONFLICT (department_name, breakdown, period, currency_id, member_id) DO UPDATE
            SET orders = d.orders + excluded.orders, units = d.units + excluded.units, cents = d.cents + excluded.cents;
            DELETE FROM analytics.department_summary WHERE department_name = moved.old_name;
            source := moved.most_went_to;
        END IF;
        FOR i IN 1 .. cardinality(moved.staff_ids) LOOP
            CONTINUE WHEN moved.new_names[i] = source;
            PERFORM analytics.count_in_departments(-1, quote_literal(source),
                                                   format('f.sales_staff_id = %s', moved.staff_ids[i]),
                                                   NULL, NULL, NULL);
            PERFORM analytics.count_in_departments(1, quote_literal(moved.new_names[i]),
                                                   format('f.sales_staff_id = %s', moved.staff_ids[i]),
                                                   NULL, NULL, NULL);
        END LOOP;
    END LOOP;
    RETURN NULL;
END
$$;
