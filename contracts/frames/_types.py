"""Column types and value sets shared by the source contracts.

ISO code lists live in ``iso_codes`` and are checked with ``isin`` (not a two-letter regex, which accepts ``ZZ`` and
``UK``), so the SQL compiler turns them into one set membership.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd

from .iso_codes import ISO_COUNTRIES, ISO_CURRENCIES

__all__ = ["Timestamp", "Bool", "EMAIL", "ISO_COUNTRIES", "ISO_CURRENCIES"]

# An instant, landed in UTC. What a value without an offset means is the source's rule, not the type's: see
# ``SourceContract.naive_time`` and ``contracts/timestamps.py``.
Timestamp = Annotated[pd.DatetimeTZDtype, "us", "UTC"]
Bool = pd.BooleanDtype
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Age bands, genders, regions and decision types are a team's codings, not a contract's: the policy lists them
# (contracts/codings.py) and a code outside the list is reported (data_quality.unknown_codes), not quarantined.
