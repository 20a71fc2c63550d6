-- The current state of each fact: the latest stored version per source id (docs/load.md).
-- "Latest" is by the source's last_updated, not by load order, so a late-arriving
-- older version never becomes current. The surrogate key breaks a (theoretical) tie.
-- DISTINCT ON walks the <fact>_version_uq index (source id, last_updated_date, last_updated_time).

CREATE VIEW pipeline.fact_sales_order_current AS
SELECT DISTINCT ON (sales_order_id) *
FROM public.fact_sales_order
ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC, sales_record_id DESC;

CREATE VIEW pipeline.fact_purchase_order_current AS
SELECT DISTINCT ON (purchase_order_id) *
FROM public.fact_purchase_order
ORDER BY purchase_order_id, last_updated_date DESC, last_updated_time DESC, purchase_record_id DESC;

CREATE VIEW pipeline.fact_payment_current AS
SELECT DISTINCT ON (payment_id) *
FROM public.fact_payment
ORDER BY payment_id, last_updated_date DESC, last_updated_time DESC, payment_record_id DESC;
