"""Pagination as shared classes: one base owns the loop and refuses a page marker it has already followed.

Platforms page in four ways, and each adapter only says which one and where the marker sits in an answer:

    NextUrlPaginator      Salesforce ``nextRecordsUrl`` (until ``done``)
    PageTokenPaginator    Google Ads ``nextPageToken``; Marketo ``nextPageToken`` while ``moreResult``;
                          HubSpot email events ``offset`` while ``hasMore``
    CursorPaginator       HubSpot ``paging.next.after``
    OffsetPaginator       Marketo assets ``offset`` (a short page is the last)

A server stuck on one page would make a pull loop forever, so the base remembers every marker it followed and
stops with one ``PaginationLoop`` naming the integration, the platform and the entity, whatever the strategy (the
Singer SDK's ``BaseAPIPaginator.advance`` guards the same way).

    >>> pages = CursorPaginator("hubspot", "hubspot", "contacts")
    >>> for page in pages.pages(lambda after: http.call("GET", path, params={"after": after} if after else {})):
    ...     rows.extend(page["results"])
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

from ...contracts.errors import PaginationLoop, SourceError

__all__ = ["Paginator", "NextUrlPaginator", "PageTokenPaginator", "CursorPaginator",
           "OffsetPaginator"]

T = TypeVar("T")


class Paginator(Generic[T]):
    """Fetches pages until the answer names no next page; a subclass only reads the next marker from an answer.

    Args:
        integration: The configured integration, first in every message.
        platform: The platform, named in the loop message.
        entity: What is being paged (an entity, or the read it serves), named in the loop message.
        start: The first page's marker (None: the first request carries none).
    """

    marker = "page marker"  # how the message words it

    def __init__(self, integration: str, platform: str, entity: str, start: T | None = None) -> None:
        self.integration, self.platform, self.entity = integration, platform, entity
        self.start = start
        self.next: T | None = None  # the marker of the page after the one just yielded (None: it was the last)

    def next_marker(self, page: Any, current: T | None) -> T | None:
        raise NotImplementedError

    def pages(self, fetch: Callable[[T | None], Any]) -> Iterator[Any]:
        """Each answer of ``fetch(marker)``, in order. ``next`` is set before a page is yielded, so a caller that
        stops early (HubSpot's search cap) knows where the platform would have gone on."""
        current: T | None = self.start
        seen: set[Any] = set() if current is None else {current}
        while True:
            page = fetch(current)
            self.next = self.next_marker(page, current)
            yield page
            if self.next is None:
                return
            if self.next in seen:
                raise PaginationLoop(
                    f"integration '{self.integration}': {self.platform} named the same {self.marker} twice while "
                    f"paging {self.entity} ({_clip(self.next)}); stopping instead of looping. Re-run the pull, and "
                    f"report it to the platform if it repeats")
            seen.add(self.next)
            current = self.next


class NextUrlPaginator(Paginator[str]):
    """The answer carries the next page's URL (Salesforce ``nextRecordsUrl``) until ``done`` says it was the last."""

    marker = "next-page URL"

    def __init__(self, integration: str, platform: str, entity: str, *, url_key: str = "nextRecordsUrl",
                 done_key: str | None = "done") -> None:
        super().__init__(integration, platform, entity)
        self.url_key, self.done_key = url_key, done_key

    def next_marker(self, page: Any, current: str | None) -> str | None:
        if self.done_key is not None and page.get(self.done_key, True):
            return None
        return page.get(self.url_key) or None


class PageTokenPaginator(Paginator[str]):
    """An opaque token for the next page (``nextPageToken``). With ``more_key`` the answer says whether there is
    more (Marketo ``moreResult``, HubSpot ``hasMore``), and more without a token is an error, not the end."""

    marker = "page token"

    def __init__(self, integration: str, platform: str, entity: str, *, token_key: str = "nextPageToken",
                 more_key: str | None = None, start: str | None = None) -> None:
        super().__init__(integration, platform, entity, start)
        self.token_key, self.more_key = token_key, more_key

    def next_marker(self, page: Any, current: str | None) -> str | None:
        token = page.get(self.token_key) or None
        if self.more_key is None:
            return token
        if not page.get(self.more_key):
            return None
        if token is None:
            raise SourceError(f"integration '{self.integration}': {self.platform} said more {self.entity} pages "
                              f"follow ({self.more_key}) but named no {self.token_key}; stopping")
        return str(token)


class CursorPaginator(Paginator[str]):
    """A cursor nested in the answer (HubSpot ``paging.next.after``): ``path`` is the keys leading to it."""

    marker = "paging cursor"

    def __init__(self, integration: str, platform: str, entity: str, *,
                 path: tuple[str, ...] = ("paging", "next", "after")) -> None:
        super().__init__(integration, platform, entity)
        self.path = path

    def next_marker(self, page: Any, current: str | None) -> str | None:
        value: Any = page
        for key in self.path:
            value = (value or {}).get(key) if isinstance(value, dict) or value is None else None
        return None if value is None else str(value)


class OffsetPaginator(Paginator[int]):
    """Offset paging (Marketo assets ``offset``/``maxReturn``): a page shorter than ``page_size`` is the last.
    ``items`` reads the records out of an answer."""

    marker = "offset"

    def __init__(self, integration: str, platform: str, entity: str, *, page_size: int,
                 items: Callable[[Any], list[Any]] = lambda page: page.get("result") or []) -> None:
        super().__init__(integration, platform, entity, 0)
        self.page_size, self.items = page_size, items

    def next_marker(self, page: Any, current: int | None) -> int | None:
        count = len(self.items(page))
        return None if count < self.page_size else (current or 0) + count


def _clip(marker: Any, limit: int = 80) -> str:
    text = str(marker)
    return text if len(text) <= limit else text[: limit - 1] + "…"
