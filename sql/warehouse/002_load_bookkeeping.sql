-- Bookkeeping of the load stage (docs/load.md), in schema pipeline next to schema_migrations.

CREATE SCHEMA IF NOT EXISTS pipeline;

-- One row per processed run loaded, written in the run's own transaction: a run is
-- in the ledger if and only if all of its rows are in the star schema.
CREATE TABLE pipeline.load_ledger (
    run_seq                 integer PRIMARY KEY CHECK (run_seq >= 1),
    attempt                 text NOT NULL,          -- transform attempt id of the commit record loaded
    commit_key              text NOT NULL,          -- runs/<seq:010d>.json in the processed bucket
    load_attempt            text NOT NULL,          -- the loader invocation that committed it
    previous_run_seq        integer NOT NULL,       -- ledger max before this run; < run_seq - 1 means a gap
    loaded_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    rows_per_table          jsonb NOT NULL,         -- {"fact_sales_order": {"staged": n, "loaded": m}, ...}
    max_source_last_updated timestamp,              -- newest fact last_updated in the run (UTC); NULL if no facts
    inferred_members        integer NOT NULL DEFAULT 0,
    rows_quarantined        integer NOT NULL DEFAULT 0,
    duration_ms             integer NOT NULL
);

-- Placeholder dimension members created for facts whose dimension row had not arrived.
-- completed_* are set when the real row arrives and overwrites the placeholder.
CREATE TABLE pipeline.inferred_member (
    table_name        text NOT NULL CHECK (table_name IN (
        'dim_staff', 'dim_location', 'dim_currency', 'dim_design',
        'dim_counterparty', 'dim_payment_type', 'dim_transaction')),
    member_id         integer NOT NULL,
    referenced_by     text NOT NULL,                -- the fact table whose row needed it
    inferred_run_seq  integer NOT NULL,
    inferred_at       timestamptz NOT NULL DEFAULT now(),
    completed_run_seq integer,
    completed_at      timestamptz,
    PRIMARY KEY (table_name, member_id)
);

CREATE INDEX inferred_member_open_idx ON pipeline.inferred_member (table_name) WHERE completed_run_seq IS NULL;

-- Staged rows the warehouse cannot hold (a NULL in a NOT NULL column): kept with the
-- reason instead of failing every retry of the run.
CREATE TABLE pipeline.load_quarantine (
    quarantine_id  bigserial PRIMARY KEY,
    run_seq        integer NOT NULL,
    table_name     text NOT NULL,
    reason         text NOT NULL,
    row_data       jsonb NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
