-- Issue 14 (SPEC §2 "Deletion", "Changes that do not touch last_updated", "Current version").
--
-- * is_deleted: false on every version stored so far and on every ordinary version; true on
--   the deletion version load writes when the source row disappeared (docs/load.md).
-- * content_hash: md5 of every stored column but the surrogate key, computed by PostgreSQL
--   for every row (existing ones too, when this adds the column). A version is now
--   (source id, last_updated, content): a correction that kept its last_updated is a new
--   version, a re-delivered identical version still collides and is stored once.
--   Only immutable casts are used (a date as days since 2000-01-01, since date_out depends
--   on DateStyle), so the value never depends on a session's settings.
-- * The current-state views follow SPEC: greatest last_updated, ties by the greatest
--   surrogate key (the later load), deleted source rows left out. The history views list
--   every version with is_current, deletion versions included.
-- load.direct.rebuildable_uniques knows the new version constraint; it still expects
-- exactly two indexes per fact (pkey + version).

ALTER TABLE public.fact_sales_order ADD COLUMN is_deleted boolean NOT NULL DEFAULT false;
ALTER TABLE public.fact_sales_order ADD COLUMN content_hash uuid NOT NULL GENERATED ALWAYS AS (
    md5(sales_order_id::text
            || '|' || (created_date - DATE '2000-01-01')::text
            || '|' || created_time::text
            || '|' || (last_updated_date - DATE '2000-01-01')::text
            || '|' || last_updated_time::text
            || '|' || sales_staff_id::text
            || '|' || counterparty_id::text
            || '|' || units_sold::text
            || '|' || unit_price::text
            || '|' || currency_id::text
            || '|' || design_id::text
            || '|' || (agreed_payment_date - DATE '2000-01-01')::text
            || '|' || (agreed_delivery_date - DATE '2000-01-01')::text
            || '|' || agreed_delivery_location_id::text
            || '|' || is_deleted::text
    )::uuid) STORED;
ALTER TABLE public.fact_sales_order DROP CONSTRAINT fact_sales_order_version_uq;
ALTER TABLE public.fact_sales_order ADD CONSTRAINT fact_sales_order_version_uq
    UNIQUE (sales_order_id, last_updated_date, last_updated_time, content_hash);

CREATE OR REPLACE VIEW pipeline.fact_sales_order_current AS
SELECT * FROM (
    SELECT DISTINCT ON (sales_order_id) *
    FROM public.fact_sales_order
    ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC, sales_record_id DESC
) AS latest
WHERE NOT latest.is_deleted;

CREATE VIEW pipeline.fact_sales_order_history AS
SELECT f.*,
       f.sales_record_id = first_value(f.sales_record_id) OVER (
           PARTITION BY f.sales_order_id
           ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.sales_record_id DESC
       ) AS is_current
FROM public.fact_sales_order AS f;

ALTER TABLE public.fact_purchase_order ADD COLUMN is_deleted boolean NOT NULL DEFAULT false;
ALTER TABLE public.fact_purchase_order ADD COLUMN content_hash uuid NOT NULL GENERATED ALWAYS AS (
    md5(purchase_order_id::text
            || '|' || (created_date - DATE '2000-01-01')::text
            || '|' || created_time::text
            || '|' || (last_updated_date - DATE '2000-01-01')::text
            || '|' || last_updated_time::text
            || '|' || staff_id::text
            || '|' || counterparty_id::text
            || '|' || item_code::text
            || '|' || item_quantity::text
            || '|' || item_unit_price::text
            || '|' || currency_id::text
            || '|' || (agreed_delivery_date - DATE '2000-01-01')::text
            || '|' || (agreed_payment_date - DATE '2000-01-01')::text
            || '|' || agreed_delivery_location_id::text
            || '|' || is_deleted::text
    )::uuid) STORED;
ALTER TABLE public.fact_purchase_order DROP CONSTRAINT fact_purchase_order_version_uq;
ALTER TABLE public.fact_purchase_order ADD CONSTRAINT fact_purchase_order_version_uq
    UNIQUE (purchase_order_id, last_updated_date, last_updated_time, content_hash);

CREATE OR REPLACE VIEW pipeline.fact_purchase_order_current AS
SELECT * FROM (
    SELECT DISTINCT ON (purchase_order_id) *
    FROM public.fact_purchase_order
    ORDER BY purchase_order_id, last_updated_date DESC, last_updated_time DESC, purchase_record_id DESC
) AS latest
WHERE NOT latest.is_deleted;

CREATE VIEW pipeline.fact_purchase_order_history AS
SELECT f.*,
       f.purchase_record_id = first_value(f.purchase_record_id) OVER (
           PARTITION BY f.purchase_order_id
           ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.purchase_record_id DESC
       ) AS is_current
FROM public.fact_purchase_order AS f;

ALTER TABLE public.fact_payment ADD COLUMN is_deleted boolean NOT NULL DEFAULT false;
ALTER TABLE public.fact_payment ADD COLUMN content_hash uuid NOT NULL GENERATED ALWAYS AS (
    md5(payment_id::text
            || '|' || (created_date - DATE '2000-01-01')::text
            || '|' || created_time::text
            || '|' || (last_updated_date - DATE '2000-01-01')::text
            || '|' || last_updated_time::text
            || '|' || transaction_id::text
            || '|' || counterparty_id::text
            || '|' || payment_amount::text
            || '|' || currency_id::text
            || '|' || payment_type_id::text
            || '|' || paid::text
            || '|' || (payment_date - DATE '2000-01-01')::text
            || '|' || is_deleted::text
    )::uuid) STORED;
ALTER TABLE public.fact_payment DROP CONSTRAINT fact_payment_version_uq;
ALTER TABLE public.fact_payment ADD CONSTRAINT fact_payment_version_uq
    UNIQUE (payment_id, last_updated_date, last_updated_time, content_hash);

CREATE OR REPLACE VIEW pipeline.fact_payment_current AS
SELECT * FROM (
    SELECT DISTINCT ON (payment_id) *
    FROM public.fact_payment
    ORDER BY payment_id, last_updated_date DESC, last_updated_time DESC, payment_record_id DESC
) AS latest
WHERE NOT latest.is_deleted;

CREATE VIEW pipeline.fact_payment_history AS
SELECT f.*,
       f.payment_record_id = first_value(f.payment_record_id) OVER (
           PARTITION BY f.payment_id
           ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.payment_record_id DESC
       ) AS is_current
FROM public.fact_payment AS f;
