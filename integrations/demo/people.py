"""The customers behind every platform of the demo workspace.

One table of people is drawn first and every platform export is a view of it, so the systems agree with each other
exactly where the injections do not make them disagree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["AGE_BANDS", "GENDERS", "REGIONS", "draw_people", "draw_accounts", "sfdc_id"]

AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
GENDERS = ["female", "male", "nonbinary"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
_COUNTRIES = {"NA": ["US", "CA"], "EMEA": ["GB", "DE", "FR", "NL"], "APAC": ["AU", "JP", "SG"], "LATAM": ["BR", "MX"]}
_FIRST = ["ada", "ben", "chloe", "dev", "elif", "femi", "gus", "hana", "ivan", "jun", "kira", "liam", "maya",
          "nia", "omar", "pia", "quin", "rosa", "sami", "tara", "uma", "vik", "wen", "xavi", "yara", "zoe"]
_LAST = ["adams", "baker", "chen", "diaz", "evans", "fischer", "garcia", "haddad", "ito", "jensen", "kowalski",
         "lopez", "moreau", "nakamura", "okafor", "patel", "rossi", "silva", "tanaka", "novak", "weber", "young"]
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
_INDUSTRIES = ["Software", "Retail", "Manufacturing", "Finance", "Healthcare", "Media", "Education"]


def sfdc_id(prefix: str, index: np.ndarray | pd.Series) -> pd.Series:
    """Salesforce-shaped 18-character ids: a 3-character key prefix and a zero-padded sequence."""
    return pd.Series([f"{prefix}{int(i):015d}" for i in index])


def draw_people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """People with the attributes an auditor groups by, and whether the CRM holds them as contact or lead."""
    idx = np.arange(n)
    first = rng.choice(_FIRST, n)
    last = rng.choice(_LAST, n)
    region = rng.choice(REGIONS, n, p=[0.4, 0.32, 0.18, 0.10])
    country = [str(rng.choice(_COUNTRIES[r])) for r in region]
    return pd.DataFrame({
        "person": idx,
        "first_name": [f.capitalize() for f in first],
        "last_name": [s.capitalize() for s in last],
        "email": [f"{f}.{s}{i}@{d}" for f, s, i, d in zip(first, last, idx, rng.choice(_DOMAINS, n))],
        "phone": [f"+1555{int(x):07d}" for x in rng.integers(0, 10**7, n)],
        "age_band": rng.choice(AGE_BANDS, n, p=[0.10, 0.24, 0.23, 0.19, 0.14, 0.10]),
        "gender": rng.choice(GENDERS, n, p=[0.48, 0.48, 0.04]),
        "region": region,
        "country": country,
        "is_contact": rng.random(n) < 0.7,
        # people who opted out before the observed window, consistently in every system
        "opted_out_before": rng.random(n) < 0.05,
        "created_days_ago": rng.integers(60, 900, n),
    })


def draw_accounts(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Companies the contacts work for; about 40% are high-value (annual revenue of a million or more)."""
    return pd.DataFrame({
        "account": np.arange(n),
        "name": [f"{rng.choice(_LAST).capitalize()} {rng.choice(['Labs', 'Group', 'Systems', 'Retail', 'Co'])}"
                 for _ in range(n)],
        "industry": rng.choice(_INDUSTRIES, n),
        "annual_revenue": np.round(np.exp(rng.normal(13.5, 1.1, n)), -3),
        "country": rng.choice(["US", "GB", "DE", "FR", "JP", "BR", "AU"], n),
    })
