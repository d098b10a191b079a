"""The shared paginators on their own: each strategy reads its marker, stops at the last page, and the base refuses a
marker it already followed with the one loop error (the adapters' use of them is in ``test_adapter_suite.py``)."""

from __future__ import annotations

import pytest

from steward.integrations.errors import SourceError
from steward.integrations.sources.paginate import (CursorPaginator, NextUrlPaginator, OffsetPaginator,
                                                   PageTokenPaginator, PaginationLoop)


def _walk(pager, answers: dict) -> list:
    asked: list = []

    def fetch(marker):
        asked.append(marker)
        return answers[marker]
    list(pager.pages(fetch))
    return asked


def test_each_strategy_follows_its_marker_to_the_last_page():
    assert _walk(NextUrlPaginator("sf", "salesforce", "contacts"), {
        None: {"done": False, "nextRecordsUrl": "/q/1-200"}, "/q/1-200": {"done": True}}) == [None, "/q/1-200"]
    assert _walk(PageTokenPaginator("ads", "google_ads", "campaign_stats"), {
        None: {"nextPageToken": "t1"}, "t1": {}}) == [None, "t1"]
    assert _walk(PageTokenPaginator("mkto", "marketo", "activities", more_key="moreResult", start="t0"), {
        "t0": {"moreResult": True, "nextPageToken": "t1"}, "t1": {"moreResult": False, "nextPageToken": "t2"}}) == \
        ["t0", "t1"]
    assert _walk(CursorPaginator("hs", "hubspot", "contacts"), {
        None: {"paging": {"next": {"after": "100"}}}, "100": {"paging": None}}) == [None, "100"]
    assert _walk(OffsetPaginator("mkto", "marketo", "smart_campaigns", page_size=2), {
        0: {"result": [1, 2]}, 2: {"result": [3, 4]}, 4: {"result": [5]}}) == [0, 2, 4]


@pytest.mark.parametrize("pager, answers", [
    (NextUrlPaginator("sf", "salesforce", "contacts"),
     {None: {"done": False, "nextRecordsUrl": "/q/1"}, "/q/1": {"done": False, "nextRecordsUrl": "/q/1"}}),
    (PageTokenPaginator("ads", "google_ads", "campaign_stats"), {None: {"nextPageToken": "a"},
                                                                 "a": {"nextPageToken": "b"},
                                                                 "b": {"nextPageToken": "a"}}),
    (PageTokenPaginator("mkto", "marketo", "activities", more_key="moreResult", start="t0"),
     {"t0": {"moreResult": True, "nextPageToken": "t0"}}),  # the start token counts as followed
    (CursorPaginator("hs", "hubspot", "contacts"), {None: {"paging": {"next": {"after": "1"}}},
                                                     "1": {"paging": {"next": {"after": "1"}}}}),
    (OffsetPaginator("mkto", "marketo", "smart_campaigns", page_size=0), {0: {"result": []}}),
], ids=["next_url", "page_token", "page_token_start", "cursor", "offset"])
def test_a_marker_seen_before_is_one_loop_error_naming_platform_and_entity(pager, answers):
    with pytest.raises(PaginationLoop) as err:
        _walk(pager, answers)
    assert str(err.value).startswith(f"integration '{pager.integration}': {pager.platform} named the same ")
    assert f"twice while paging {pager.entity} (" in str(err.value) and "\n" not in str(err.value)


def test_more_pages_promised_without_a_token_is_an_error_not_the_end():
    pager = PageTokenPaginator("mkto", "marketo", "activities", more_key="moreResult", start="t0")
    with pytest.raises(SourceError, match="integration 'mkto': marketo said more activities pages follow"):
        _walk(pager, {"t0": {"moreResult": True}})


def test_next_is_known_before_the_page_is_handed_over():
    """HubSpot's search stops at its result cap: the caller breaks off and needs the marker it would have followed."""
    pager = CursorPaginator("hs", "hubspot", "contacts")
    answers = {None: {"paging": {"next": {"after": "200"}}}, "200": {}}
    for page in pager.pages(answers.__getitem__):
        assert pager.next == "200"
        break
