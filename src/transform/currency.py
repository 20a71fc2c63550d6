"""Currency names from ISO 4217, via pycountry (a maintained copy of the ISO data).

The source holds only the three-letter code; the warehouse wants the name. A code
ISO 4217 does not know is bad input (quarantined), never guessed.
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
import pycountry


@cache
def currency_name(code: str) -> str | None:
    """The ISO 4217 name of ``code`` (``"GBP"`` -> ``"Pound Sterling"``), or None if unknown.

    Codes are matched exactly (upper case, three letters), as ISO 4217 writes them.
    """
    found = pycountry.currencies.get(alpha_3=code) if len(code) == 3 and code.isupper() else None
    return None if found is None else str(found.name)


def currency_names(codes: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Names for an array of codes; null where the code is unknown (or null).

    Looks up each *distinct* code once, so the cost does not grow with the rows.
    """
    codes = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
    distinct = codes.unique()
    names = pa.array([None if c is None else currency_name(c) for c in distinct.to_pylist()], pa.string())
    return pc.take(names, pc.index_in(codes, value_set=distinct))
