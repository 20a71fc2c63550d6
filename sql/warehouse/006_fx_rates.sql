-- Exchange rates (issue 17; docs/load.md "Exchange rates"): the second source's table, and
-- each fact's value in a reporting currency.
--
-- fx_rate.rate = units of currency_code for one unit of base_currency on rate_date, as the
-- rates API publishes it (base GBP: GBP's own rate is 1). Loaded by load.fx_load, an upsert
-- keyed by (currency_code, rate_date). numeric(30,14): every digit the API sends, never a float.
CREATE TABLE public.fx_rate (
    currency_code varchar(3)     NOT NULL,
    rate_date     date           NOT NULL,
    rate          numeric(30, 14) NOT NULL CHECK (rate > 0),
    base_currency varchar(3)     NOT NULL,
    source        text           NOT NULL,  -- the URL the rate was read from
    run_seq       integer        NOT NULL,  -- the run that loaded it (pipeline.load_ledger)
    PRIMARY KEY (currency_code, rate_date)  -- (code, date): the nearest-earlier lookup is one index probe
);

-- The rates to convert from_code into to_code on on_date: each currency's rate of the
-- nearest date on or before on_date (NULLs when it has none), and the older of the two
-- dates (rate_date). Same currency: factor 1 and the date itself, no rate needed.
-- value in to_code = value * to_rate / from_rate.
CREATE FUNCTION analytics.fx_rates_on(from_code text, to_code text, on_date date)
RETURNS TABLE (rate_date date, from_rate numeric, to_rate numeric)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN from_code = to_code THEN on_date
                WHEN f.rate IS NULL OR t.rate IS NULL THEN NULL  -- least() would skip the NULL
                ELSE least(f.rate_date, t.rate_date) END,
           CASE WHEN from_code = to_code THEN 1 ELSE f.rate END,
           CASE WHEN from_code = to_code THEN 1 ELSE t.rate END
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT r.rate_date, r.rate FROM public.fx_rate AS r
        WHERE r.currency_code = from_code AND r.rate_date <= on_date
        ORDER BY r.rate_date DESC LIMIT 1
    ) AS f ON true
    LEFT JOIN LATERAL (
        SELECT r.rate_date, r.rate FROM public.fx_rate AS r
        WHERE r.currency_code = to_code AND r.rate_date <= on_date
        ORDER BY r.rate_date DESC LIMIT 1
    ) AS t ON true
$$;

-- Each current sales order (pipeline.fact_sales_order_current) with its value (units_sold *
-- unit_price) in its own currency and in reporting_currency, converted on created_date.
-- rate_gap_days = created_date - the rate's date (0: that day's rate; NULL: no rate on or
-- before that date, and value_reporting is NULL). value_reporting is rounded to cents. Deleted
-- source rows: left out, as the current views leave them out (005_deletions_and_corrections).
CREATE FUNCTION analytics.sales_order_values(reporting_currency text DEFAULT 'GBP')
RETURNS TABLE (
    sales_record_id integer, sales_order_id integer, created_date date, currency_code varchar,
    value numeric, reporting_currency text, rate_date date, rate_gap_days integer, value_reporting numeric
)
LANGUAGE sql STABLE AS $$
    SELECT f.sales_record_id, f.sales_order_id, f.created_date, c.currency_code,
           f.units_sold * f.unit_price, upper(reporting_currency), r.rate_date, f.created_date - r.rate_date,
           round(f.units_sold * f.unit_price * r.to_rate / r.from_rate, 2)
    FROM pipeline.fact_sales_order_current AS f
    JOIN public.dim_currency AS c ON c.currency_id = f.currency_id
    CROSS JOIN LATERAL analytics.fx_rates_on(c.currency_code, upper(reporting_currency), f.created_date) AS r
$$;

-- As sales_order_values, for purchase orders (item_quantity * item_unit_price, on created_date).
CREATE FUNCTION analytics.purchase_order_values(reporting_currency text DEFAULT 'GBP')
RETURNS TABLE (
    purchase_record_id integer, purchase_order_id integer, created_date date, currency_code varchar,
    value numeric, reporting_currency text, rate_date date, rate_gap_days integer, value_reporting numeric
)
LANGUAGE sql STABLE AS $$
    SELECT f.purchase_record_id, f.purchase_order_id, f.created_date, c.currency_code,
           f.item_quantity * f.item_unit_price, upper(reporting_currency), r.rate_date,
           f.created_date - r.rate_date, round(f.item_quantity * f.item_unit_price * r.to_rate / r.from_rate, 2)
    FROM pipeline.fact_purchase_order_current AS f
    JOIN public.dim_currency AS c ON c.currency_id = f.currency_id
    CROSS JOIN LATERAL analytics.fx_rates_on(c.currency_code, upper(reporting_currency), f.created_date) AS r
$$;

-- As sales_order_values, for payments (payment_amount, on payment_date).
CREATE FUNCTION analytics.payment_values(reporting_currency text DEFAULT 'GBP')
RETURNS TABLE (
    payment_record_id integer, payment_id integer, payment_date date, currency_code varchar,
    value numeric, reporting_currency text, rate_date date, rate_gap_days integer, value_reporting numeric
)
LANGUAGE sql STABLE AS $$
    SELECT f.payment_record_id, f.payment_id, f.payment_date, c.currency_code,
           f.payment_amount, upper(reporting_currency), r.rate_date, f.payment_date - r.rate_date,
           round(f.payment_amount * r.to_rate / r.from_rate, 2)
    FROM pipeline.fact_payment_current AS f
    JOIN public.dim_currency AS c ON c.currency_id = f.currency_id
    CROSS JOIN LATERAL analytics.fx_rates_on(c.currency_code, upper(reporting_currency), f.payment_date) AS r
$$;

-- The default reporting currency as plain views (any other: call the function with its code).
CREATE VIEW analytics.sales_order_values_gbp AS SELECT * FROM analytics.sales_order_values('GBP');
CREATE VIEW analytics.purchase_order_values_gbp AS SELECT * FROM analytics.purchase_order_values('GBP');
CREATE VIEW analytics.payment_values_gbp AS SELECT * FROM analytics.payment_values('GBP');

GRANT SELECT ON public.fx_rate TO warehouse_reader;
GRANT SELECT ON analytics.sales_order_values_gbp, analytics.purchase_order_values_gbp,
    analytics.payment_values_gbp TO warehouse_reader;
