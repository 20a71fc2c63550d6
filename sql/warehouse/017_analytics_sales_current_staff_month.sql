-- A department over a date range reads only its months (issue 15; docs/benchmarks.md,
-- "A department over a date range").
--
-- A department filter picks its staff members as one array and reads their rows of
-- analytics.sales_current through the staff index (dashboard/filters.py); with a date range
-- it read every month of those staff members and dropped the rest row by row (a year of a
-- department at 1M: 38k rows kept of 111k read). The index now holds the month after the
-- staff member, so the range is an index condition too; a staff member alone still uses it.
-- Same name: the fold rebuilds the table's indexes from their definitions, not by name.

DROP INDEX analytics.sales_current_staff;
CREATE INDEX sales_current_staff ON analytics.sales_current (sales_staff_id, month);
