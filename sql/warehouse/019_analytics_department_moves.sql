-- A department renamed (or merged into another) moves its summary rows as they are
-- (issue 15, "without slowing run_load"; docs/benchmarks.md, "A department renamed").
--
-- 014's trigger moved each staff member whose department_name changed on its own: their
-- orders in sales_current grouped five ways, taken out of the old department and added to
-- the new one, cell by cell through ON CONFLICT. A department renamed in totesys changes
-- every one of its staff members in dim_staff (about a tenth of the staff), so one rename
-- regrouped a tenth of the orders twice: 2.5 backend CPU-s of an incremental load at 100k
-- and 20-28 at 1M, where the same load without summaries costs 0.1-0.2.
--
-- The trigger now fires once per statement and sees every change at once (transition
-- tables). When a department is left with nobody after the statement and everyone who left
-- it went to one name, its rows are exactly that name's share: they are added to the new
-- name's rows and deleted, without reading sales_current (a rename: the new name has no rows
-- yet; a merge: they add up). Any other move (a staff member changing department, a
-- department split) is counted per staff member as before. Each case computes what it
-- moves from rows nothing else in the statement changes, so their order does not matter.

DROP TRIGGER analytics_department ON public.dim_staff;
DROP FUNCTION analytics.move_department();

CREATE FUNCTION analytics.move_departments() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved record;
    i integer;
BEGIN
    FOR moved IN
        SELECT o.department_name AS old_name,
               array_agg(n.staff_id ORDER BY n.staff_id) AS staff_ids,
               array_agg(n.department_name ORDER BY n.staff_id) AS new_names,
               count(DISTINCT n.department_name) AS new_name_count
        FROM old_staff o JOIN new_staff n USING (staff_id)
        WHERE o.department_name IS DISTINCT FROM n.department_name
        GROUP BY o.department_name
    LOOP
        IF moved.new_name_count = 1
           AND NOT EXISTS (SELECT 1 FROM public.dim_staff WHERE department_name = moved.old_name) THEN
            INSERT INTO analytics.department_summary AS d
                (department_name, breakdown, period, currency_id, member_id, orders, units, cents)
            SELECT moved.new_names[1], breakdown, period, currency_id, member_id, orders, units, cents
            FROM analytics.department_summary WHERE department_name = moved.old_name
            ON CONFLICT (department_name, breakdown, period, currency_id, member_id) DO UPDATE
            SET orders = d.orders + excluded.orders, units = d.units + excluded.units, cents = d.cents + excluded.cents;
            DELETE FROM analytics.department_summary WHERE department_name = moved.old_name;
        ELSE
            FOR i IN 1 .. cardinality(moved.staff_ids) LOOP
                PERFORM analytics.count_in_departments(-1, quote_literal(moved.old_name),
                                                       format('f.sales_staff_id = %s', moved.staff_ids[i]),
                                                       NULL, NULL, NULL);
                PERFORM analytics.count_in_departments(1, quote_literal(moved.new_names[i]),
                                                       format('f.sales_staff_id = %s', moved.staff_ids[i]),
                                                       NULL, NULL, NULL);
            END LOOP;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Transition tables cannot go with a column list (UPDATE OF department_name): the function
-- finds the rows whose department changed. An INSERT ... ON CONFLICT DO UPDATE (the load's
-- dimension upsert) fires it with the rows it updated.
CREATE TRIGGER analytics_departments AFTER UPDATE ON public.dim_staff
    REFERENCING OLD TABLE AS old_staff NEW TABLE AS new_staff
    FOR EACH STATEMENT EXECUTE FUNCTION analytics.move_departments();

REVOKE EXECUTE ON FUNCTION analytics.move_departments() FROM PUBLIC;
