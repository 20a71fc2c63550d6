"""Compare the warehouse with totesys, independently of the transform code, in bounded memory.

The pipeline's own transform is what we want to check, so this package derives every
expected warehouse row again from the *current* source with its own SQL
(``ops.reconcile.derivations``) and never imports ``transform.*``. What it asserts (SPEC §2, §3):

* every dimension row equals its derivation from the source (and no member is
  missing or extra); ``dim_staff.location`` uses the documented placeholder
  ``'Unknown'`` for a NULL department location; ``dim_currency.currency_name`` is
  the ISO 4217 name of the code (pycountry); a code ISO does not know is bad input;
* every ``dim_date`` row has the right attributes, and every date a fact references
  has a ``dim_date`` row;
* the latest fact version of every source row (latest by ``last_updated``) equals the
  source row, all columns, timestamps split into date and time;
* every source row has a fact version, and no fact version (source id, last_updated)
  is stored twice.

How, at any size (``ops.reconcile.ranges``): each database hashes every range of 1,024
keys of each table (the source over the derivation, the warehouse over its rows), and
only ranges whose hashes differ are read into Python and compared column by column, so
memory holds one range and the readable differences (``table [key] column: expected,
actual``) are the same as when both databases were read whole.

A source row holding a value the warehouse cannot hold (``common.value_domain``, the
one definition transform quarantines by), or whose currency code is not ISO 4217, is
bad input: the pipeline quarantines it (SPEC §3, docs/transform.md), so it is reported
as skipped, not as a difference; so is a row that references such a row (a fact's
dimension member, a staff member's department, a counterparty's address). Such a row
always lies in a range that differs (the warehouse cannot hold it), which is where it is
judged (``ops.reconcile.bad_input``).

Skipping must never be a way to pass. The report counts per table the source rows,
the rows checked and the rows skipped as bad input, and the verdict fails when a
table's skipped share exceeds ``max_skipped_share`` (default 1 %), or when a source
column's type is not the contract's (SPEC §1): a retyped column is named, whatever
the pipeline made of it.
"""

from ops.reconcile.bad_input import source_type_mismatches
from ops.reconcile.check import reconcile
from ops.reconcile.compare import compare_rows
from ops.reconcile.derivations import (
    DIMENSIONS,
    FACTS,
    NULL_LOCATION_PLACEHOLDER,
    BadSourceValueError,
    Derived,
    TableCheck,
    currency_name,
    date_attributes,
    derive_row,
    parse_text_date,
)
from ops.reconcile.report import DEFAULT_MAX_SKIPPED_SHARE, Difference, ReconcileReport, TableCounts

__all__ = [
    "DEFAULT_MAX_SKIPPED_SHARE",
    "DIMENSIONS",
    "FACTS",
    "NULL_LOCATION_PLACEHOLDER",
    "BadSourceValueError",
    "Derived",
    "Difference",
    "ReconcileReport",
    "TableCheck",
    "TableCounts",
    "compare_rows",
    "currency_name",
    "date_attributes",
    "derive_row",
    "parse_text_date",
    "reconcile",
    "source_type_mismatches",
]
