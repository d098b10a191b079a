"""The report's charts, drawn as inline SVG from the governance marts: no script, no font or file to fetch.

Why our own small SVG and not a charting library: the report must open offline, be mailed as one file and be read by
people who may not see customer data. A JS library would have to be vendored into every report (hundreds of KB) and
run in the reader's browser; a server-side renderer (vega via vl-convert) is a 50 MB dependency. Three chart shapes
cover what the report needs (intervals on a rate axis, a two-window slope, paired bars), each a few dozen lines, and
the SVG scales with the page (``viewBox``), prints, and needs nothing else. The integration health strips follow the
same approach (``integrations/health/report.py``).

Charts read the aggregated marts only (rates, intervals, totals), never customer rows. Every text is escaped.
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

from markupsafe import Markup

if TYPE_CHECKING:  # the file audits' pages (flows/audit_html.py) draw with the helpers below without pandas
    import pandas as pd

    from ..contracts.policy import Policy
    from ..integrations.warehouse import Warehouse

__all__ = ["chart_context", "bias_charts", "balance_chart", "spend_chart", "COLORS", "Interval", "Marker",
           "interval_chart", "bar_chart", "trend_chart"]

COLORS = {"critical": "#b42318", "warn": "#b54708", "ok": "#067647", "ink": "#101828", "muted": "#667085",
          "grid": "#e4e7ec", "kpi": "#175cd3", "guardrail": "#b42318", "crm": "#7a5af8", "ads": "#0e9384"}
_W, _LEFT, _RIGHT = 760, 150, 120  # drawing width and the label gutters, in SVG units


def chart_context(warehouse: Warehouse, policy: Policy) -> dict[str, list[Markup]]:
    """Every chart the marts allow; a mart that is missing or empty gives no chart rather than an empty frame."""
    import pandas as pd

    def read(mart: str) -> pd.DataFrame:
        return warehouse.mart(mart) if warehouse.table_exists("governance", mart) else pd.DataFrame()

    return {"bias": bias_charts(read("gov_bias__selection_rates"), policy),
            "balance": [c for c in [balance_chart(read("gov_metric_balance__campaigns"), policy)] if c],
            "spend": [c for c in [spend_chart(read("gov_reconciliation__spend"), policy)] if c]}


def bias_charts(mart: pd.DataFrame, policy: Policy) -> list[Markup]:
    """One chart per model and dimension: each group's favourable-outcome rate with its Wilson 95 % interval, against
    the reference group's rate and the policy's warn line (four-fifths of it, the EEOC reading). For a favourable model
    that is the selection rate; for an adverse one (scope.bias_models favourable: false) it is the share NOT given
    the adverse decision, so a group left of the line is worse off either way, and the title says which is plotted.
    Groups the policy judges and finds below the line (or, adverse, over the adverse-ratio limit) are drawn in the
    warn or critical colour."""
    rule = policy.checks.get("bias.selection_rate_disparity")
    warn = rule.warn if rule and rule.warn is not None else 0.8
    crit = rule.critical if rule and rule.critical is not None else 0.5
    out = []
    for (model, dim), rows in mart.groupby(["model_name", "dimension"], sort=True) if not mart.empty else []:
        rows = _favourable_view(rows.sort_values("group_value"))
        ref = float(rows["reference_favourable_rate"].iloc[0])
        top = _nice(max(rows["fav_high"].max(), ref) * 1.1)
        x = _scale(0, top, _LEFT, _W - _RIGHT)
        h = 40 + 26 * len(rows)
        parts = [_axis(x, top, h - 22, pct=True),
                 _vline(x(ref), 14, h - 22, COLORS["ink"], f"reference {escape(str(rows['reference_group'].iloc[0]))}"),
                 _vline(x(ref * warn), 14, h - 22, COLORS["warn"], f"{warn:g} × reference", dashed=True, left=True)]
        for i, r in enumerate(rows.itertuples(index=False)):
            y = 30 + 26 * i
            judged = r.n >= 50 and (r.z_vs_reference or 0) <= -2.58
            ratio = r.disparity_ratio if r.disparity_ratio is not None and not _nan(r.disparity_ratio) else 1.0
            level = _bias_level(judged, ratio, warn, crit, None if r.is_favourable else r.adverse_ratio, policy)
            color = COLORS[level]
            parts.append(f'<g class="group" data-group="{escape(str(r.group_value))}" data-level="{level}">'
                         f'<text x="{_LEFT - 8}" y="{y + 4}" text-anchor="end">{escape(str(r.group_value))}</text>'
                         f'<line x1="{x(r.fav_low):.1f}" x2="{x(r.fav_high):.1f}" y1="{y}" y2="{y}" stroke="{color}" '
                         f'stroke-width="3"/><circle cx="{x(r.favourable_rate):.1f}" cy="{y}" r="5" fill="{color}"/>'
                         f'<text x="{_W - _RIGHT + 6}" y="{y + 4}" class="val">{r.favourable_rate:.1%} '
                         f'(n {int(r.n):,})</text><title>{escape(str(r.group_value))}: {r.favourable_rate:.1%}, '
                         f'95% interval {r.fav_low:.1%}–{r.fav_high:.1%}, ratio {ratio:.2f}'
                         f'{_adverse_note(r)}</title></g>')
        out.append(_svg(f"bias-{model}-{dim}", _bias_title(str(model), str(dim), rows), h, parts))
    return out


def _favourable_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The mart's rows with the favourable rate and its interval: the selection rate as it is for a favourable
    model, mirrored (1 - rate, 1 - the interval's ends) for an adverse one. Marts built before polarity existed hold
    no ``favourable`` column and are all favourable."""
    fav = rows["favourable"].fillna(True).astype(bool) if "favourable" in rows else pd.Series(True, index=rows.index)
    sel, ref = rows["selection_rate"], rows["reference_rate"]
    return rows.assign(is_favourable=fav, favourable_rate=sel.where(fav, 1 - sel),
                       reference_favourable_rate=ref.where(fav, 1 - ref),
                       fav_low=rows["ci_low"].where(fav, 1 - rows["ci_high"]),
                       fav_high=rows["ci_high"].where(fav, 1 - rows["ci_low"]),
                       adverse_ratio=rows["adverse_ratio"] if "adverse_ratio" in rows else None)


def _bias_level(judged: bool, ratio: float, warn: float, crit: float, adverse_ratio: Any, policy: Policy) -> str:
    """The worst level the bias checks give the group: the favourable-rate ratio, then the adverse-rate ratio."""
    if not judged:
        return "ok"
    levels = ["critical" if ratio < crit else "warn" if ratio < warn else "ok"]
    rule = policy.checks.get("bias.adverse_rate_disparity")
    if rule and adverse_ratio is not None and not _nan(adverse_ratio):
        levels.append(_level(adverse_ratio, rule))
    return "critical" if "critical" in levels else "warn" if "warn" in levels else "ok"


def _adverse_note(r: Any) -> str:
    if r.is_favourable or r.adverse_ratio is None or _nan(r.adverse_ratio):
        return ""
    return f"; adverse decision {r.selection_rate:.1%}, {r.adverse_ratio:.2f} × the reference group's"


def _bias_title(model: str, dim: str, rows: pd.DataFrame) -> str:
    """What is plotted: the selection rate, or for an adverse model the rate of NOT getting its decisions."""
    if bool(rows["is_favourable"].iloc[0]):
        return f"{model}: selection rate by {dim}"
    decision = str(rows["decision"].iloc[0]) if "decision" in rows else "the adverse decision"
    return f"{model}: favourable rate (not {decision}) by {dim}"


def balance_chart(mart: pd.DataFrame, policy: Policy) -> Markup | None:
    """KPI against guardrail per campaign, prior window to recent window: click rate (KPI) and unsubscribe +
    complaint rate (guardrail), each as a slope from its prior to its recent value, with the guardrail ratio the
    policy judges (``metric_balance.kpi_up_guardrail_down``)."""
    if mart.empty:
        return None
    rule = policy.checks.get("metric_balance.kpi_up_guardrail_down")
    rows = mart.sort_values("campaign_name")
    panel = (_W - _LEFT - 40 - 60) / 2
    parts = [f'<text x="{_LEFT + panel / 2}" y="14" text-anchor="middle" class="head">click rate (KPI)</text>',
             f'<text x="{_LEFT + panel * 1.5 + 40}" y="14" text-anchor="middle" class="head">'
             f'unsubscribes + complaints per delivered (guardrail)</text>']
    top_k = _nice(max(rows["ctr_prior"].max(), rows["ctr_recent"].max()) * 1.1)
    top_g = _nice(max(rows["guardrail_rate_prior"].max(), rows["guardrail_rate_recent"].max()) * 1.1)
    for i, r in enumerate(rows.itertuples(index=False)):
        y0, y1 = 26 + 46 * i, 26 + 46 * i + 36
        parts.append(f'<text x="{_LEFT - 8}" y="{(y0 + y1) / 2 + 4}" text-anchor="end">'
                     f'{escape(str(r.campaign_name))}</text>')
        for j, (prior, recent, top, color) in enumerate(((r.ctr_prior, r.ctr_recent, top_k, COLORS["kpi"]),
                                                         (r.guardrail_rate_prior, r.guardrail_rate_recent, top_g,
                                                          COLORS["guardrail"]))):
            x0 = _LEFT + j * (panel + 40)
            y = _scale(0, top, y1, y0)
            parts.append(f'<rect x="{x0}" y="{y0}" width="{panel}" height="{y1 - y0}" fill="none" '
                         f'stroke="{COLORS["grid"]}"/><polyline class="trend" fill="none" stroke="{color}" '
                         f'stroke-width="2.5" points="{x0 + 20},{y(prior):.1f} {x0 + panel - 20},{y(recent):.1f}"/>'
                         f'<circle cx="{x0 + 20}" cy="{y(prior):.1f}" r="3.5" fill="{color}"/>'
                         f'<circle cx="{x0 + panel - 20}" cy="{y(recent):.1f}" r="3.5" fill="{color}"/>'
                         f'<title>prior {prior:.2%} → recent {recent:.2%}</title>')
        ratio = r.guardrail_ratio
        level = _level(ratio, rule)
        label = "—" if ratio is None or _nan(ratio) else f"{ratio:.1f}×"
        parts.append(f'<text x="{_W - 4}" y="{(y0 + y1) / 2 + 4}" text-anchor="end" class="val level-{level}" '
                     f'style="fill: {COLORS[level]}">{label}</text>')
    note = (f"guardrail ratio warn above {rule.warn:g}, critical above {rule.critical:g}" if rule else "")
    parts.append(f'<text x="{_LEFT}" y="{26 + 46 * len(rows) + 6}" class="val">left point: prior window, right point: '
                 f'recent window; {escape(note)}</text>')
    return _svg("kpi-guardrail", "KPI against guardrail by campaign", 40 + 46 * len(rows), parts)


def spend_chart(mart: pd.DataFrame, policy: Policy) -> Markup | None:
    """Paired bars per paid campaign: what the CRM booked and what the ad platform charged, and the gap the policy
    judges (``reconciliation.ad_spend_vs_crm_cost``)."""
    if mart.empty:
        return None
    rule = policy.checks.get("reconciliation.ad_spend_vs_crm_cost")
    rows = mart.sort_values("campaign_name")
    top = _nice(max(rows["crm_actual_cost"].max(), rows["ads_spend"].max()) * 1.05)
    x = _scale(0, top, _LEFT, _W - _RIGHT)
    parts = [_axis(x, top, 30 + 44 * len(rows), pct=False),
             f'<rect x="{_LEFT}" y="4" width="10" height="10" fill="{COLORS["crm"]}"/><text x="{_LEFT + 14}" y="13" '
             f'class="val">CRM booked cost</text><rect x="{_LEFT + 130}" y="4" width="10" height="10" '
             f'fill="{COLORS["ads"]}"/><text x="{_LEFT + 144}" y="13" class="val">ad platform spend</text>']
    for i, r in enumerate(rows.itertuples(index=False)):
        y = 24 + 44 * i
        level = _level(r.spend_diff_pct, rule)
        parts.append(f'<g class="campaign"><text x="{_LEFT - 8}" y="{y + 16}" text-anchor="end">'
                     f'{escape(str(r.campaign_name))}</text>'
                     f'<rect x="{_LEFT}" y="{y}" width="{x(r.crm_actual_cost) - _LEFT:.1f}" height="14" '
                     f'fill="{COLORS["crm"]}"><title>CRM {r.crm_actual_cost:,.0f}</title></rect>'
                     f'<rect x="{_LEFT}" y="{y + 16}" width="{x(r.ads_spend) - _LEFT:.1f}" height="14" '
                     f'fill="{COLORS["ads"]}"><title>ads {r.ads_spend:,.0f}</title></rect>'
                     f'<text x="{_W - _RIGHT + 6}" y="{y + 20}" class="val level-{level}" style="fill: {COLORS[level]}">'
                     f'{"—" if _nan(r.spend_diff_pct) else f"{r.spend_diff_pct:.0%} apart"}</text></g>')
    return _svg("spend-reconciliation", "Ad spend against CRM cost by campaign", 52 + 44 * len(rows), parts)


class Interval(NamedTuple):
    """One point with its interval on an :func:`interval_chart`. ``level`` is a ``COLORS`` key (ok, warn, critical,
    muted...); rows sharing a ``label`` and differing in ``series`` are drawn in one band, one colour per series."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    level: str = "ok"
    note: str = ""
    series: str = ""


class Marker(NamedTuple):
    """A vertical line across a chart at ``value`` (a reference rate, a policy line), labelled at its top."""

    value: float
    label: str
    color: str = COLORS["ink"]
    dashed: bool = False


SERIES_COLORS = ("#175cd3", "#b54708", "#7a5af8", "#0e9384", "#c11574")


def interval_chart(key: str, title: str, rows: Sequence[Interval], *, markers: Sequence[Marker] = (),
                   pct: bool = True) -> Markup | None:
    """Points with their intervals on one axis, one band per label, and vertical markers (the run report's bias chart
    as a public helper, for the file audits' pages). A point without a value draws no dot and says so on the right.
    Several series (say TPR, FPR, FNR per group) share a band, each in its own colour with a legend on top."""
    if not rows:
        return None
    labels = list(dict.fromkeys(r.label for r in rows))
    series = list(dict.fromkeys(r.series for r in rows if r.series))
    color_of = {s: SERIES_COLORS[i % len(SERIES_COLORS)] for i, s in enumerate(series)}
    step = 14 if series else 0
    band = 26 + step * max(len(series) - 1, 0)
    known = [v for r in rows for v in (r.value, r.high) if v is not None and not _nan(v)]
    top = _nice(max(known + [m.value for m in markers] + [0.0]) * 1.1)
    if pct and max(known + [m.value for m in markers] + [0.0]) <= 1:
        top = min(top, 1.0)  # a rate's axis ends at 100 %, however wide the margin asked for
    x = _scale(0, top, _LEFT, _W - _RIGHT)
    head = (22 if series else 0) + 12 * max(len(markers) - 1, 0)  # legend, then one label row per extra marker
    h = head + 40 + band * len(labels)
    parts = [_axis(x, top, h - 22, pct=pct)]
    parts += [f'<rect x="{_LEFT + 90 * i}" y="4" width="10" height="10" fill="{color_of[s]}"/><text '
              f'x="{_LEFT + 90 * i + 14}" y="13" class="val">{escape(s)}</text>' for i, s in enumerate(series)]
    parts += [_vline(x(m.value), head - 12 * (len(markers) - 1 - i) + 14, h - 22, m.color, escape(m.label),
                     dashed=m.dashed, left=i % 2 == 1) for i, m in enumerate(markers)]  # labels stacked, never over
    for i, label in enumerate(labels):
        y0 = head + 30 + band * i
        parts.append(f'<g class="group" data-group="{escape(label)}"><text x="{_LEFT - 8}" '
                     f'y="{y0 + (band - 26) / 2 + 4}" text-anchor="end">{escape(label)}</text>')
        for j, r in enumerate(r for r in rows if r.label == label):
            y = y0 + j * step
            color = color_of.get(r.series) or COLORS.get(r.level, COLORS["ok"])
            parts.append(_interval(x, y, r, color, pct))
        parts.append("</g>")
    return _svg(_slug(key), title, h, parts)


def bar_chart(key: str, title: str, labels: Sequence[str], values: Sequence[float | None], *,
              levels: Sequence[str] | None = None, notes: Sequence[str] | None = None,
              markers: Sequence[Marker] = (), pct: bool = False) -> Markup | None:
    """Horizontal bars, one per label (a distribution, a share per column), with optional per-bar ``levels`` (a
    ``COLORS`` key), right-hand ``notes`` and vertical markers (a cap, a policy line)."""
    if not labels:
        return None
    top = _nice(max([v for v in values if v is not None and not _nan(v)] + [m.value for m in markers] + [0.0]) * 1.05)
    x = _scale(0, top, _LEFT, _W - _RIGHT)
    h = 40 + 22 * len(labels)
    parts = [_axis(x, top, h - 22, pct=pct)]
    parts += [_vline(x(m.value), 14, h - 22, m.color, escape(m.label), dashed=m.dashed, left=i % 2 == 1)
              for i, m in enumerate(markers)]
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 24 + 22 * i
        color = COLORS.get(levels[i] if levels else "kpi", COLORS["kpi"])
        shown = "–" if value is None or _nan(value) else (f"{value:.1%}" if pct else f"{value:,.6g}")
        note = escape(notes[i]) if notes else shown
        parts.append(f'<g class="bar" data-label="{escape(str(label))}"><text x="{_LEFT - 8}" y="{y + 12}" '
                     f'text-anchor="end">{escape(str(label))}</text><rect x="{_LEFT}" y="{y}" '
                     f'width="{max(x(value) - _LEFT, 0):.1f}" height="16" fill="{color}"><title>{escape(str(label))}: '
                     f'{shown}</title></rect><text x="{_W - _RIGHT + 6}" y="{y + 12}" class="val">{note}</text></g>')
    return _svg(_slug(key), title, h, parts)


def trend_chart(key: str, title: str, runs: Sequence[str], series: dict[str, Sequence[int]], *,
                tips: Sequence[str] = ()) -> Markup | None:
    """Small multiples: one row per series (a check family), its count in each run as a line from the oldest run on
    the left to this run on the right, on one shared scale so rows compare. A dot is drawn only where the count is
    above zero (in the warn colour); the right-hand note is this run's count and its change from the run before.
    ``runs`` label the first and last columns; ``tips`` (one per run) name each column in the dots' titles."""
    if not runs or not series:
        return None
    top = max([max(v, default=0) for v in series.values()] + [1])
    n = len(runs)
    x = (lambda i: (_LEFT + _W - _RIGHT) / 2) if n == 1 else _scale(0, n - 1, _LEFT + 6, _W - _RIGHT - 6)
    row = 34  # each row's own band: its baseline at the bottom, the shared maximum near its top
    h = 30 + row * len(series)
    parts = [f'<text x="{_LEFT}" y="{h - 6}" class="tick">{escape(runs[0])}</text>'] + (
        [f'<text x="{_W - _RIGHT}" y="{h - 6}" text-anchor="end" class="tick">{escape(runs[-1])}</text>']
        if n > 1 else [])
    for i, (name, counts) in enumerate(series.items()):
        y0 = 6 + row * i
        y = _scale(0, top, y0 + row - 8, y0 + 8)
        last, prev = counts[-1], (counts[-2] if n > 1 else None)
        delta = "" if prev is None or prev == last else f" ({last - prev:+d})"
        level = "warn" if last else "ok"
        points = " ".join(f"{x(j):.1f},{y(c):.1f}" for j, c in enumerate(counts))
        dots = "".join(f'<circle cx="{x(j):.1f}" cy="{y(c):.1f}" r="3" fill="{COLORS["warn"]}"><title>'
                       f'{escape(tips[j] if j < len(tips) else runs[j] if j < n else "")}: {c}</title></circle>'
                       for j, c in enumerate(counts) if c)
        parts.append(f'<g class="trend-row" data-series="{escape(name)}" data-last="{last}">'
                     f'<text x="{_LEFT - 8}" y="{y0 + row / 2 + 4}" text-anchor="end">{escape(name)}</text>'
                     f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y0 + row - 8}" y2="{y0 + row - 8}" '
                     f'stroke="{COLORS["grid"]}"/><polyline class="trend" fill="none" stroke="{COLORS["muted"]}" '
                     f'stroke-width="1.5" points="{points}"/>{dots}'
                     f'<text x="{_W - _RIGHT + 6}" y="{y0 + row / 2 + 4}" class="val level-{level}" '
                     f'style="fill: {COLORS[level]}">{last}{delta}</text></g>')
    return _svg(_slug(key), title, h, parts)


def _slug(key: str) -> str:
    """An element id from a column or dimension name ("age_band x sex" -> "age_band-x-sex"): ids hold no spaces."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", key).strip("-") or "chart"


def _interval(x: Callable[[float], float], y: float, r: Interval, color: str, pct: bool) -> str:
    def fmt(v: float | None) -> str:
        return "–" if v is None or _nan(v) else (f"{v:.1%}" if pct else f"{v:,.4g}")

    name = escape(f"{r.label} {r.series}".strip())
    tip = f"{name}: {fmt(r.value)}" + (f", 95% interval {fmt(r.low)}–{fmt(r.high)}" if r.low is not None else "")
    line = (f'<line x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="3"/>'
            if r.low is not None and r.high is not None and not (_nan(r.low) or _nan(r.high)) else "")
    dot = (f'<circle cx="{x(r.value):.1f}" cy="{y}" r="5" fill="{color}"/>'
           if r.value is not None and not _nan(r.value) else "")
    note = escape(r.note) if r.note else fmt(r.value)
    return (f'<g class="point" data-series="{escape(r.series)}">{line}{dot}<text x="{_W - _RIGHT + 6}" y="{y + 4}" '
            f'class="val">{note}</text><title>{tip}</title></g>')


def _svg(key: str, title: str, height: float, parts: list[str]) -> Markup:
    return Markup(f'<figure class="chart" id="chart-{escape(key)}"><figcaption>{escape(title)}</figcaption>'
                  f'<svg class="chart-svg" viewBox="0 0 {_W} {height:.0f}" width="100%" role="img" '
                  f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg></figure>')


def _scale(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: a + (b - a) * ((0 if v is None or _nan(v) else v) - lo) / span


def _axis(x: Callable[[float], float], top: float, y: float, pct: bool) -> str:
    ticks = [top * i / 4 for i in range(5)]
    return "".join(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="18" y2="{y}" stroke="{COLORS["grid"]}"/>'
                   f'<text x="{x(t):.1f}" y="{y + 14}" text-anchor="middle" class="tick">'
                   f'{f"{t * 100:.3g}%" if pct else f"{t:,.0f}"}</text>' for t in ticks)


def _vline(xv: float, y0: float, y1: float, color: str, label: str, dashed: bool = False, left: bool = False) -> str:
    """A vertical marker with its label beside the top, to the right of it (or to the left, so two never overlap)."""
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    anchor = f'x="{xv - 4:.1f}" text-anchor="end"' if left else f'x="{xv + 4:.1f}"'
    return (f'<line x1="{xv:.1f}" x2="{xv:.1f}" y1="{y0}" y2="{y1}" stroke="{color}" stroke-width="1.5"{dash}/>'
            f'<text {anchor} y="{y0 + 2}" class="tick" fill="{color}">{label}</text>')


def _level(value: Any, rule: Any) -> str:
    if rule is None or value is None or _nan(value):
        return "ok"
    if rule.critical is not None and value > rule.critical:
        return "critical"
    return "warn" if rule.warn is not None and value > rule.warn else "ok"


def _nice(value: float) -> float:
    """A round axis maximum (1, 2, 2.5 or 5 times a power of ten) at or above ``value``."""
    if not value or _nan(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
