-- The warehouse's loader role: what the load function logs in as (the warehouse
-- secret). Run once per warehouse, by its master user, connected to the warehouse
-- database (docs/operations.md, "The warehouse"):
--
--   LOADER_PASSWORD="$(openssl rand -base64 32)" psql \
--     "host=<warehouse_endpoint> dbname=warehouse user=totes_admin sslmode=verify-full sslrootcert=rds-global-bundle.pem" \
--     -v loader=totes_loader -f sql/setup/create_loader.sql
--
-- The password comes from the environment (never the command line or a file). The
-- loader owns the warehouse database, so the migrations (applied as the loader) can
-- create its schemas; it gets no CREATEDB, CREATEROLE or rds_superuser, and nothing
-- outside this database. Nobody else may connect (CONNECT revoked from PUBLIC).
\set ON_ERROR_STOP on
\if :{?loader}
\else
  DO $$ BEGIN RAISE EXCEPTION 'name the role: psql -v loader=totes_loader ...'; END $$;
\endif
\getenv loader_password LOADER_PASSWORD
\if :{?loader_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'set LOADER_PASSWORD in the environment'; END $$;
\endif
SELECT current_database() AS warehouse_db \gset

CREATE ROLE :"loader" LOGIN PASSWORD :'loader_password';
-- Handing a database to a role needs membership in it (PostgreSQL 16+ no longer
-- grants that to the role's creator implicitly).
GRANT :"loader" TO CURRENT_USER;
ALTER DATABASE :"warehouse_db" OWNER TO :"loader";
REVOKE ALL ON DATABASE :"warehouse_db" FROM PUBLIC;
-- The dashboard's read-only role, which the migrations grant SELECT on the
-- analytics views: creating a role needs CREATEROLE, which the loader lacks.
SELECT 'CREATE ROLE warehouse_reader NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warehouse_reader') \gexec
