-- The version key of 005 without its generated hash (issue 14; docs/load.md, "Idempotency").
--
-- 005 keyed a fact version by (source id, last_updated, content_hash), content_hash a
-- generated md5 of the row's text. Computing it doubled the server's CPU of a 1M-row load
-- (docs/benchmarks.md, "The comparison ..."). The key is now the values themselves:
-- (source id, last_updated_date, last_updated_time, every other stored column, is_deleted).
-- Every fact column is NOT NULL, so equal keys are equal versions; the index is built in
-- one sort as before (its comparisons are decided by the leading columns) and is wider.
-- A correction with the same last_updated is still a new version; a re-delivered identical
-- version still collides. The views name their columns (005's SELECT * tied them to the
-- dropped column); nothing else depends on them (the analytics functions read them by name).

DROP VIEW pipeline.fact_sales_order_history;
DROP VIEW pipeline.fact_sales_order_current;
ALTER TABLE public.fact_sales_order DROP CONSTRAINT fact_sales_order_version_uq;
ALTER TABLE public.fact_sales_order DROP COLUMN content_hash;
ALTER TABLE public.fact_sales_order ADD CONSTRAINT fact_sales_order_version_uq
    UNIQUE (sales_order_id, last_updated_date, last_updated_time, created_date, created_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id, is_deleted);

CREATE VIEW pipeline.fact_sales_order_current AS
SELECT sales_record_id, sales_order_id, created_date, created_time, last_updated_date, last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id, is_deleted FROM (
    SELECT DISTINCT ON (sales_order_id) *
    FROM public.fact_sales_order
    ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC, sales_record_id DESC
) AS latest
WHERE NOT latest.is_deleted;

CREATE VIEW pipeline.fact_sales_order_history AS
SELECT f.sales_record_id, f.sales_order_id, f.created_date, f.created_time, f.last_updated_date, f.last_updated_time, f.sales_staff_id, f.counterparty_id, f.units_sold, f.unit_price, f.currency_id, f.design_id, f.agreed_payment_date, f.agreed_delivery_date, f.agreed_delivery_location_id, f.is_deleted,
       f.sales_record_id = first_value(f.sales_record_id) OVER (
           PARTITION BY f.sales_order_id
           ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.sales_record_id DESC
       ) AS is_current
FROM public.fact_sales_order AS f;

DROP VIEW pipeline.fact_purchase_order_history;
DROP VIEW pipeline.fact_purchase_order_current;
ALTER TABLE public.fact_purchase_order DROP CONSTRAINT fact_purchase_order_version_uq;
ALTER TABLE public.fact_purchase_order DROP COLUMN content_hash;
ALTER TABLE public.fact_purchase_order ADD CONSTRAINT fact_purchase_order_version_uq
    UNIQUE (purchase_order_id, last_updated_date, last_updated_time, created_date, created_time, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, is_deleted);

CREATE VIEW pipeline.fact_purchase_order_current AS
SELECT purchase_record_id, purchase_order_id, created_date, created_time, last_updated_date, last_updated_time, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, is_deleted FROM (
    SELECT DISTINCT ON (purchase_order_id) *
    FROM public.fact_purchase_order
    ORDER BY purchase_order_id, last_updated_date DESC, last_updated_time DESC, purchase_record_id DESC
) AS latest
WHERE NOT latest.is_deleted;

CREATE VIEW pipeline.fact_purchase_order_history AS
SELECT f.purchase_record_id, f.purchase_order_id, f.created_date, f.created_time, f.last_updated_date, f.last_updated_time, f.staff_id, f.counterparty_id, f.item_code, f.item_quantity, f.item_unit_price, f.currency_id, f.agreed_delivery_date, f.agreed_payment_date, f.agreed_delivery_location_id, f.is_deleted,
       f.purchase_record_id = first_value(f.purchase_record_id) OVER (
           PARTITION BY f.purchase_order_id
           ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.purchase_record_id DESC
       ) AS is_current
FROM public.fact_purchase_order AS f;

DROP VIEW pipeline.fact_payment_history;
DROP VIEW pipeline.fact_payment_current;
ALTER TABLE public.fact_payment DROP CONSTRAINT fact_payment_version_uq;
ALTER TABLE public.fact_payment DROP COLUMN content_hash;
ALTER TABLE public.fact_payment ADD CONSTRAINT fact_payment_version_uq
    UNIQUE (payment_id, last_updated_date, last_updated_time, created_date, created_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date, is_deleted);

CREATE VIEW pipeline.fact_payment_current AS
SELECT payment_record_id, payment_id, created_date, created_time, last_updated_date, last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date, is_deleted FROM (
    SELECT DISTINCT ON (payment_id) *
    FROM public.fact_payment
    ORDER BY payment_id, last_updated_date DESC, last_updated_time DESC, payment_record_id DESC
) AS latest
WHERE NOT latest.is_deleted;

CREATE VIEW pipeline.fact_payment_history AS
SELECT f.payment_record_id, f.payment_id, f.created_date, f.created_time, f.last_updated_date, f.last_updated_time, f.transaction_id, f.counterparty_id, f.payment_amount, f.currency_id, f.payment_type_id, f.paid, f.payment_date, f.is_deleted,
       f.payment_record_id = first_value(f.payment_record_id) OVER (
           PARTITION BY f.payment_id
           ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.payment_record_id DESC
       ) AS is_current
FROM public.fact_payment AS f;
