"""Column types and patterns shared by the source contracts."""

from __future__ import annotations

from typing import Annotated

import pandas as pd

__all__ = ["Timestamp", "Bool", "EMAIL", "ISO_COUNTRY", "AGE_BANDS", "GENDERS", "REGIONS"]

Timestamp = Annotated[pd.DatetimeTZDtype, "us", "UTC"]
Bool = pd.BooleanDtype
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ISO_COUNTRY = r"^[A-Z]{2}$"
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
GENDERS = ["female", "male", "nonbinary", "unknown"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
