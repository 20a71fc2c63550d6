"""A tiny hand-written totesys and the warehouse it must become, written by SQL.

The warehouse rows are typed in by hand (not derived by any pipeline code), so the
ops tests do not depend on the stages and cannot agree with a bug in them.
"""

from __future__ import annotations

import pytest

SOURCE_SQL = """
INSERT INTO address (address_id, address_line_1, address_line_2, district, city, postal_code, country, phone,
                     created_at, last_updated) VALUES
 (1, '1 Tote Street', NULL, 'Leeds', 'Leeds', 'LS1 1AA', 'United Kingdom', '0113 000',
  '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
 (2, '2 Bag Road', 'Unit 4', NULL, 'Paris', '75001', 'France', '+33 1', '2024-01-01 09:00:00', '2024-01-02 10:00:00');
INSERT INTO counterparty (counterparty_id, counterparty_legal_name, legal_address_id, commercial_contact,
                          delivery_contact, created_at, last_updated) VALUES
 (1, 'Fahey and Sons', 2, 'Ann', 'Bob', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES
 (1, 'GBP', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
 (2, 'EUR', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO department (department_id, department_name, location, manager, created_at, last_updated) VALUES
 (1, 'Sales', 'Manchester', 'Cat', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
 (2, 'Purchasing', NULL, 'Dan', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated) VALUES
 (1, 'Wooden', '/usr', 'wooden-20220717-npgz.json', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO staff (staff_id, first_name, last_name, department_id, email_address, created_at, last_updated) VALUES
 (1, 'Jeremie', 'Franey', 1, 'jeremie.franey@terrifictotes.com', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
 (2, 'Deron', 'Beier', 2, 'deron.beier@terrifictotes.com', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO payment_type (payment_type_id, payment_type_name, created_at, last_updated) VALUES
 (1, 'SALES_RECEIPT', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
 (2, 'PURCHASE_PAYMENT', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO sales_order (sales_order_id, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
                         agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
                         created_at, last_updated) VALUES
 (1, 1, 1, 1, 100, 2.50, 1, '2024-02-01', '2024-02-10', 1, '2024-01-05 10:11:12.345', '2024-01-06 08:00:00.001'),
 (2, 1, 1, 1, 7, 3.00, 2, '2024-03-01', '2024-03-05', 2, '2024-01-07 11:00:00', '2024-01-07 11:00:00');
INSERT INTO purchase_order (purchase_order_id, staff_id, counterparty_id, item_code, item_quantity, item_unit_price,
                            currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
                            created_at, last_updated) VALUES
 (1, 2, 1, 'ZDOI5EA', 40, 1.25, 1, '2024-02-02', '2024-02-03', 2, '2024-01-08 12:00:00', '2024-01-08 12:00:00');
INSERT INTO transaction (transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at,
                         last_updated) VALUES
 (1, 'SALE', 1, NULL, '2024-01-05 10:11:12.345', '2024-01-05 10:11:12.345'),
 (2, 'PURCHASE', NULL, 1, '2024-01-08 12:00:00', '2024-01-08 12:00:00');
INSERT INTO payment (payment_id, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,
                     payment_date, company_ac_number, counterparty_ac_number, created_at, last_updated) VALUES
 (1, 1, 1, 250.00, 1, 1, true, '2024-02-10', 123, 456, '2024-01-09 09:30:00', '2024-01-09 09:30:00');
"""

# The warehouse the source above must become. sales_order 1 has two versions: the
# first (units_sold 90, as first extracted) and the current one.
WAREHOUSE_SQL = """
INSERT INTO dim_date (date_id, year, month, day, day_of_week, day_name, month_name, quarter)
SELECT d::date, extract(year FROM d), extract(month FROM d), extract(day FROM d), extract(isodow FROM d),
       trim(to_char(d, 'Day')), trim(to_char(d, 'Month')), extract(quarter FROM d)
FROM generate_series('2024-01-01'::date, '2024-03-31'::date, interval '1 day') AS d;
INSERT INTO dim_staff VALUES
 (1, 'Jeremie', 'Franey', 'Sales', 'Manchester', 'jeremie.franey@terrifictotes.com'),
 (2, 'Deron', 'Beier', 'Purchasing', 'Unknown', 'deron.beier@terrifictotes.com');
INSERT INTO dim_location VALUES
 (1, '1 Tote Street', NULL, 'Leeds', 'Leeds', 'LS1 1AA', 'United Kingdom', '0113 000'),
 (2, '2 Bag Road', 'Unit 4', NULL, 'Paris', '75001', 'France', '+33 1');
INSERT INTO dim_currency VALUES (1, 'GBP', 'Pound Sterling'), (2, 'EUR', 'Euro');
INSERT INTO dim_design VALUES (1, 'Wooden', '/usr', 'wooden-20220717-npgz.json');
INSERT INTO dim_counterparty VALUES
 (1, 'Fahey and Sons', '2 Bag Road', 'Unit 4', NULL, 'Paris', '75001', 'France', '+33 1');
INSERT INTO dim_payment_type VALUES (1, 'SALES_RECEIPT'), (2, 'PURCHASE_PAYMENT');
INSERT INTO dim_transaction VALUES (1, 'SALE', 1, NULL), (2, 'PURCHASE', NULL, 1);
INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date, last_updated_time,
    sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date,
    agreed_delivery_date, agreed_delivery_location_id) VALUES
 (1, '2024-01-05', '10:11:12.345', '2024-01-05', '10:11:12.345', 1, 1, 90, 2.50, 1, 1, '2024-02-10', '2024-02-01', 1),
 (1, '2024-01-05', '10:11:12.345', '2024-01-06', '08:00:00.001', 1, 1, 100, 2.50, 1, 1, '2024-02-10', '2024-02-01', 1),
 (2, '2024-01-07', '11:00:00', '2024-01-07', '11:00:00', 1, 1, 7, 3.00, 2, 1, '2024-03-05', '2024-03-01', 2);
INSERT INTO fact_purchase_order (purchase_order_id, created_date, created_time, last_updated_date, last_updated_time,
    staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date,
    agreed_payment_date, agreed_delivery_location_id) VALUES
 (1, '2024-01-08', '12:00:00', '2024-01-08', '12:00:00', 2, 1, 'ZDOI5EA', 40, 1.25, 1, '2024-02-02', '2024-02-03', 2);
INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, last_updated_time,
    transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date) VALUES
 (1, '2024-01-09', '09:30:00', '2024-01-09', '09:30:00', 1, 1, 250.00, 1, 1, true, '2024-02-10');
"""


@pytest.fixture
def tiny_world(source_db, warehouse_db):
    """A source and the matching warehouse (written by hand); returns both Database handles."""
    source_db.admin.execute_simple(SOURCE_SQL)
    warehouse_db.admin.execute_simple(WAREHOUSE_SQL)
    return source_db, warehouse_db
