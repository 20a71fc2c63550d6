-- The warehouse star schemas of ../shared/SPEC.md §2 (Sales, Purchases, Payments).
-- Dimensions are type 1 (latest value per source id); facts keep every observed
-- version of a source row under a serial surrogate key.
-- Applied once by `totes migrate` (local.migrate), which records it in pipeline.schema_migrations.

CREATE TABLE dim_date (
    date_id     date PRIMARY KEY,
    year        integer NOT NULL,
    month       integer NOT NULL,
    day         integer NOT NULL,
    day_of_week integer NOT NULL CHECK (day_of_week BETWEEN 1 AND 7),  -- ISO: Monday = 1
    day_name    varchar NOT NULL,
    month_name  varchar NOT NULL,
    quarter     integer NOT NULL CHECK (quarter BETWEEN 1 AND 4)
);

CREATE TABLE dim_staff (
    staff_id        integer PRIMARY KEY,
    first_name      varchar NOT NULL,
    last_name       varchar NOT NULL,
    department_name varchar NOT NULL,
    location        varchar NOT NULL,   -- a NULL source location becomes 'Unknown' (docs/data-model.md)
    email_address   varchar NOT NULL
);

CREATE TABLE dim_location (
    location_id    integer PRIMARY KEY,
    address_line_1 varchar NOT NULL,
    address_line_2 varchar,
    district       varchar,
    city           varchar NOT NULL,
    postal_code    varchar NOT NULL,
    country        varchar NOT NULL,
    phone          varchar NOT NULL
);

CREATE TABLE dim_currency (
    currency_id   integer PRIMARY KEY,
    currency_code varchar NOT NULL,
    currency_name varchar NOT NULL
);

CREATE TABLE dim_design (
    design_id     integer PRIMARY KEY,
    design_name   varchar NOT NULL,
    file_location varchar NOT NULL,
    file_name     varchar NOT NULL
);

CREATE TABLE dim_counterparty (
    counterparty_id                  integer PRIMARY KEY,
    counterparty_legal_name          varchar NOT NULL,
    counterparty_legal_address_line_1 varchar NOT NULL,
    counterparty_legal_address_line_2 varchar,
    counterparty_legal_district      varchar,
    counterparty_legal_city          varchar NOT NULL,
    counterparty_legal_postal_code   varchar NOT NULL,
    counterparty_legal_country       varchar NOT NULL,
    counterparty_legal_phone_number  varchar NOT NULL
);

CREATE TABLE dim_payment_type (
    payment_type_id   integer PRIMARY KEY,
    payment_type_name varchar NOT NULL
);

CREATE TABLE dim_transaction (
    transaction_id    integer PRIMARY KEY,
    transaction_type  varchar NOT NULL,
    sales_order_id    integer,
    purchase_order_id integer
);

CREATE TABLE fact_sales_order (
    sales_record_id             serial PRIMARY KEY,
    sales_order_id              integer NOT NULL,
    created_date                date NOT NULL REFERENCES dim_date (date_id),
    created_time                time NOT NULL,
    last_updated_date           date NOT NULL REFERENCES dim_date (date_id),
    last_updated_time           time NOT NULL,
    sales_staff_id              integer NOT NULL REFERENCES dim_staff (staff_id),
    counterparty_id             integer NOT NULL REFERENCES dim_counterparty (counterparty_id),
    units_sold                  integer NOT NULL,
    unit_price                  numeric(10, 2) NOT NULL,
    currency_id                 integer NOT NULL REFERENCES dim_currency (currency_id),
    design_id                   integer NOT NULL REFERENCES dim_design (design_id),
    agreed_payment_date         date NOT NULL REFERENCES dim_date (date_id),
    agreed_delivery_date        date NOT NULL REFERENCES dim_date (date_id),
    agreed_delivery_location_id integer NOT NULL REFERENCES dim_location (location_id),
    -- A fact version is one (source row, last_updated): never stored twice, even if
    -- the load ledger were bypassed.
    CONSTRAINT fact_sales_order_version_uq UNIQUE (sales_order_id, last_updated_date, last_updated_time)
);

CREATE TABLE fact_purchase_order (
    purchase_record_id          serial PRIMARY KEY,
    purchase_order_id           integer NOT NULL,
    created_date                date NOT NULL REFERENCES dim_date (date_id),
    created_time                time NOT NULL,
    last_updated_date           date NOT NULL REFERENCES dim_date (date_id),
    last_updated_time           time NOT NULL,
    staff_id                    integer NOT NULL REFERENCES dim_staff (staff_id),
    counterparty_id             integer NOT NULL REFERENCES dim_counterparty (counterparty_id),
    item_code                   varchar NOT NULL,
    item_quantity               integer NOT NULL,
    item_unit_price             numeric(10, 2) NOT NULL,
    currency_id                 integer NOT NULL REFERENCES dim_currency (currency_id),
    agreed_delivery_date        date NOT NULL REFERENCES dim_date (date_id),
    agreed_payment_date         date NOT NULL REFERENCES dim_date (date_id),
    agreed_delivery_location_id integer NOT NULL REFERENCES dim_location (location_id),
    CONSTRAINT fact_purchase_order_version_uq UNIQUE (purchase_order_id, last_updated_date, last_updated_time)
);

CREATE TABLE fact_payment (
    payment_record_id serial PRIMARY KEY,
    payment_id        integer NOT NULL,
    created_date      date NOT NULL REFERENCES dim_date (date_id),
    created_time      time NOT NULL,
    last_updated_date date NOT NULL REFERENCES dim_date (date_id),
    last_updated_time time NOT NULL,
    transaction_id    integer NOT NULL REFERENCES dim_transaction (transaction_id),
    counterparty_id   integer NOT NULL REFERENCES dim_counterparty (counterparty_id),
    payment_amount    numeric(10, 2) NOT NULL,
    currency_id       integer NOT NULL REFERENCES dim_currency (currency_id),
    payment_type_id   integer NOT NULL REFERENCES dim_payment_type (payment_type_id),
    paid              boolean NOT NULL,
    payment_date      date NOT NULL REFERENCES dim_date (date_id),
    CONSTRAINT fact_payment_version_uq UNIQUE (payment_id, last_updated_date, last_updated_time)
);
