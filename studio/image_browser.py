"""Browsing a dataset's images (the Label page's gallery): filter by status, search by file
name, count per status, page through thousands, jump to a position or a name.

Pure functions over :class:`studio.annotations.ImageItem` lists (``image_queue``'s result),
so a gallery is one database query per rerun and everything here is cheap to recompute.
Positions shown to people are 1-based; page numbers are 0-based in code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from studio.annotations import IMAGE_STATUSES, ImageItem, ImageStatus, queue_counts
from studio.errors import InvalidInput

PAGE_SIZE = 48  # thumbnails per gallery page (only the current page is rendered)


@dataclass(frozen=True)
class GalleryPage:
    """One page of the images a filter and a search let through."""

    items: list[ImageItem]  # this page's images, in queue (import) order
    page: int  # 0-based, clamped to 0 .. pages - 1
    pages: int  # at least 1 (an empty result is one empty page)
    first: int  # 1-based position of items[0] among the matches (0 when there is none)
    total: int  # images that match the filter and the search

    @property
    def last(self) -> int:
        """1-based position of the page's last image (0 when empty)."""
        return self.first + len(self.items) - 1 if self.items else 0


def search_terms(query: str) -> list[str]:
    """The lower-cased, whitespace-separated words of a search."""
    return query.lower().split()


def matches(item: ImageItem, terms: Sequence[str]) -> bool:
    """True when every term occurs in the image's file name (case-insensitive)."""
    name = item.file_name.lower()
    return all(term in name for term in terms)


def check_statuses(statuses: Sequence[str] | None) -> tuple[str, ...]:
    """``statuses`` as a tuple; InvalidInput naming the allowed ones for anything else."""
    chosen = tuple(statuses or ())
    unknown = sorted(set(chosen) - set(IMAGE_STATUSES))
    if unknown:
        raise InvalidInput(f"image status {unknown}: expected some of {', '.join(IMAGE_STATUSES)}")
    return chosen


def filter_items(items: Sequence[ImageItem], statuses: Sequence[str] | None = None,
                 query: str = "") -> list[ImageItem]:
    """The items whose status is one of ``statuses`` (None or empty: any) and whose file name
    holds every word of ``query``, in their order."""
    chosen = set(check_statuses(statuses))
    terms = search_terms(query)
    return [i for i in items if (not chosen or i.status in chosen) and matches(i, terms)]


def status_counts(items: Sequence[ImageItem], query: str = "") -> dict[ImageStatus, int]:
    """Images per status (every status present, in ``IMAGE_STATUSES`` order) among those whose
    file name matches ``query``: the numbers a status filter would show."""
    counts = queue_counts(filter_items(items, None, query))
    return {status: getattr(counts, status) for status in IMAGE_STATUSES}


def page_count(total: int, page_size: int = PAGE_SIZE) -> int:
    """Pages needed for ``total`` images (at least 1)."""
    if page_size < 1:
        raise InvalidInput(f"page size {page_size}: expected at least 1")
    return max(1, -(-total // page_size))


def page_of(items: Sequence[ImageItem], page: int, page_size: int = PAGE_SIZE) -> GalleryPage:
    """Page ``page`` (0-based; clamped into range) of ``items``."""
    pages = page_count(len(items), page_size)
    page = min(max(page, 0), pages - 1)
    start = page * page_size
    chunk = list(items[start:start + page_size])
    return GalleryPage(chunk, page, pages, start + 1 if chunk else 0, len(items))


def page_containing(items: Sequence[ImageItem], image_id: int | None, page_size: int = PAGE_SIZE) -> int | None:
    """The 0-based page that shows ``image_id``, or None when it is not among ``items``."""
    for index, item in enumerate(items):
        if item.id == image_id:
            return index // page_size
    return None


def jump_target(items: Sequence[ImageItem], query: str) -> ImageItem:
    """The image a "jump to" entry names among ``items`` (what the gallery shows):

    - ``12`` or ``#12``: the 12th image (1-based position);
    - otherwise a file name: an exact match (case-insensitive; with or without the folder
      part), else the first whose name contains the text.

    InvalidInput with the accepted forms when nothing matches.
    """
    text = query.strip()
    if not items:
        raise InvalidInput("no images to jump to: the filter and the search leave none")
    if not text:
        raise InvalidInput(f"jump to: expected a position 1..{len(items)} or part of a file name")
    number = text[1:] if text.startswith("#") else text
    if number.isdigit():
        position = int(number)
        if not 1 <= position <= len(items):
            raise InvalidInput(f"position {position}: expected 1..{len(items)} (the images shown)")
        return items[position - 1]
    lowered = text.lower()
    for item in items:
        name = item.file_name.lower()
        if name == lowered or name.rsplit("/", 1)[-1] == lowered:
            return item
    for item in items:
        if lowered in item.file_name.lower():
            return item
    raise InvalidInput(f"no image named like {text!r} among the {len(items)} shown; "
                       f"expected a position 1..{len(items)} or part of a file name")
