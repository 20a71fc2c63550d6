"""A small warehouse typed in by hand, folded into the summaries the way the load does
(``analytics.refresh_summaries()`` as the loader, in two runs), and the read-only role's
connection to it. Expected figures in the tests are worked out by hand from these rows."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator

import pg8000.native
import pytest

from common.db import connect
from local.stack import READER_ROLE

DIMENSIONS_SQL = """
INSERT INTO dim_date (date_id, year, month, day, day_of_week, day_name, month_name, quarter)
SELECT d::date, extract(year FROM d), extract(month FROM d), extract(day FROM d), extract(isodow FROM d),
       trim(to_char(d, 'Day')), trim(to_char(d, 'Month')), extract(quarter FROM d)
FROM generate_series('2024-01-01'::date, '2024-04-30'::date, interval '1 day') AS d;
INSERT INTO dim_currency VALUES (1, 'GBP', 'Pound Sterling'), (2, 'EUR', 'Euro');
INSERT INTO dim_design VALUES (1, 'Wooden', '/usr', 'wooden.json'), (2, 'Bronze', '/usr', 'bronze.json');
INSERT INTO dim_counterparty VALUES
 (1, 'Fahey and Sons', '1 Tote Street', NULL, NULL, 'Leeds', 'LS1 1AA', 'United Kingdom', '0113'),
 (2, 'Leannon Ltd', '2 Bag Road', NULL, NULL, 'Paris', '75001', 'France', '+33 1');
INSERT INTO dim_staff VALUES
 (1, 'Jeremie', 'Franey', 'Sales', 'Manchester', 'jf@terrifictotes.com'),
 (2, 'Deron', 'Beier', 'Purchasing', 'Leeds', 'db@terrifictotes.com');
INSERT INTO dim_location VALUES
 (1, '1 Tote Street', NULL, NULL, 'Leeds', 'LS1 1AA', 'United Kingdom', '0113'),
 (2, '2 Bag Road', NULL, NULL, 'Paris', '75001', 'France', '+33 1');
INSERT INTO dim_payment_type VALUES (1, 'SALES_RECEIPT'), (2, 'PURCHASE_PAYMENT');
INSERT INTO dim_transaction VALUES (1, 'SALE', 1, NULL), (2, 'PURCHASE', NULL, 1), (3, 'SALE', 3, NULL);
"""

# Run 1: order 1 (first version), 2, 3; purchase order 1; payments 1 (paid), 2 (unpaid).
RUN_1_SQL = """
INSERT INTO fact_sales_order (sales_record_id, sales_order_id, created_date, created_time, last_updated_date,
    last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,
    agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id) VALUES
 (1, 1, '2024-01-05', '10:00', '2024-01-06', '08:00', 1, 1, 100, 2.50, 1, 1, '2024-02-10', '2024-02-01', 1),
 (2, 2, '2024-01-07', '11:00', '2024-01-07', '11:00', 1, 2, 7, 3.00, 2, 2, '2024-03-05', '2024-03-01', 2),
 (3, 3, '2024-02-10', '09:00', '2024-02-10', '09:00', 2, 1, 10, 100.00, 2, 1, '2024-03-10', '2024-03-01', 2);
INSERT INTO fact_purchase_order (purchase_record_id, purchase_order_id, created_date, created_time,
    last_updated_date, last_updated_time, staff_id, counterparty_id, item_code, item_quantity, item_unit_price,
    currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) VALUES
 (1, 1, '2024-01-08', '12:00', '2024-01-08', '12:00', 2, 2, 'ZDOI5EA', 40, 1.25, 2, '2024-02-02', '2024-02-03', 2);
INSERT INTO fact_payment (payment_record_id, payment_id, created_date, created_time, last_updated_date,
    last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,
    payment_date) VALUES
 (1, 1, '2024-01-09', '09:30', '2024-01-09', '09:30', 1, 1, 250.00, 1, 1, true, '2024-02-10'),
 (2, 2, '2024-01-09', '09:30', '2024-01-09', '09:30', 2, 2, 50.00, 2, 2, false, '2024-02-03');
"""

# Run 2: order 1's second version (units 100 -> 90), a late copy of order 2 OLDER than the
# stored one (never current), order 4; payment 2 marked paid; payment 3 (unpaid).
RUN_2_SQL = """
INSERT INTO fact_sales_order (sales_record_id, sales_order_id, created_date, created_time, last_updated_date,
    last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,
    agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id) VALUES
 (4, 1, '2024-01-05', '10:00', '2024-02-01', '08:00', 1, 1, 90, 2.50, 1, 1, '2024-02-10', '2024-02-01', 1),
 (5, 2, '2024-01-07', '11:00', '2024-01-07', '10:00', 1, 2, 999, 3.00, 2, 2, '2024-03-05', '2024-03-01', 2),
 (6, 4, '2024-02-11', '09:00', '2024-02-11', '09:00', 1, 2, 4, 0.25, 1, 2, '2024-03-10', '2024-03-01', 1);
INSERT INTO fact_payment (payment_record_id, payment_id, created_date, created_time, last_updated_date,
    last_updated_time, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,
    payment_date) VALUES
 (3, 2, '2024-01-09', '09:30', '2024-01-20', '09:30', 2, 2, 50.00, 2, 2, true, '2024-02-03'),
 (4, 3, '2024-02-11', '09:30', '2024-02-11', '09:30', 3, 1, 7.00, 1, 1, false, '2024-03-15');
"""


@pytest.fixture
def reader_password(stack) -> str:
    """A fresh password for the app's role (created by the stack, granted by migration 004)."""
    password = uuid.uuid4().hex
    admin = stack.postgres.connect()
    try:
        admin.run(f"ALTER ROLE {READER_ROLE} LOGIN PASSWORD {pg8000.native.literal(password)}")
    finally:
        admin.close()
    return password


@pytest.fixture
def reader(warehouse_db, reader_password: str) -> Iterator[Callable[[], pg8000.native.Connection]]:
    """Connections to the test warehouse as the app's read-only role (TLS, as the app connects)."""
    creds = dataclasses.replace(warehouse_db.credentials, username=READER_ROLE, password=reader_password)
    opened: list[pg8000.native.Connection] = []

    def open_connection() -> pg8000.native.Connection:
        con = connect(creds, "totes-dashboard-test")
        opened.append(con)
        return con

    yield open_connection
    for con in opened:
        con.close()


@pytest.fixture
def fold(warehouse_db) -> Callable[[], None]:
    """The fold the load function runs after a load (load.summaries), as the loader (by SQL: no ledger here)."""

    def run() -> None:
        con = warehouse_db.connect()
        try:
            con.run("SELECT analytics.refresh_summaries()")
        finally:
            con.close()

    return run


@pytest.fixture
def load_run(warehouse_db, fold) -> Callable[[int], None]:
    """Insert the rows of hand run 1 or 2 (the star tables are written by hand) and fold them."""

    def run(n: int) -> None:
        warehouse_db.admin.execute_simple({1: RUN_1_SQL, 2: RUN_2_SQL}[n])
        fold()

    return run


@pytest.fixture
def hand_warehouse(warehouse_db, load_run):
    """The hand-typed warehouse after both runs were folded."""
    warehouse_db.admin.execute_simple(DIMENSIONS_SQL)
    load_run(1)
    load_run(2)
    return warehouse_db
