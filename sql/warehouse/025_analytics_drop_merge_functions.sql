-- Nothing calls analytics.merge_months or analytics.merge_running since 023, which merges a
-- summary row's running arrays in one sub-select (023's replacements of refresh_sales and
-- refresh_payments were their last callers). bench_dashboard's before_012 variant creates
-- them again from 010, with the fold functions of 010 it puts back.
DROP FUNCTION analytics.merge_running(date[], bigint[], date[], bigint[]);
DROP FUNCTION analytics.merge_months(date[], date[]);
