-- The conversion functions of 006_fx_rates.sql read pipeline.fact_*_current, which
-- warehouse_reader (the analytics app's role: SELECT on the star and analytics only, 004)
-- may not read, so the app's role could not call them, nor read the *_values_gbp views
-- (a view calls its functions with the caller's rights). They run as their owner instead
-- (SECURITY DEFINER): read-only, every name in them schema-qualified, and a search_path of
-- pg_catalog alone, so no object of a caller's can stand in for one of ours.
-- fx_rates_on reads only public.fx_rate, which warehouse_reader may read: it stays as it is.
ALTER FUNCTION analytics.sales_order_values(text) SECURITY DEFINER SET search_path = pg_catalog;
ALTER FUNCTION analytics.purchase_order_values(text) SECURITY DEFINER SET search_path = pg_catalog;
ALTER FUNCTION analytics.payment_values(text) SECURITY DEFINER SET search_path = pg_catalog;
