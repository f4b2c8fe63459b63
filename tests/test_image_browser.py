"""The gallery's logic: status filter, file-name search, counts, pages, jump-to."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.annotations import ImageItem
from studio.errors import InvalidInput
from studio.image_browser import (
    check_statuses,
    filter_items,
    jump_target,
    page_containing,
    page_count,
    page_of,
    status_counts,
)

STATUSES = ("unlabelled", "draft", "review", "done")


def _item(i: int, status: str, name: str | None = None) -> ImageItem:
    return ImageItem(id=100 + i, file_name=name or f"shelf/IMG_{i:04d}.jpg", width=640, height=480, split="train",
                     content_hash=f"{i:064x}", path=Path(f"/store/{i}.jpg"), status=status,  # type: ignore[arg-type]
                     accepted=int(status == "done"), drafts=int(status == "draft"))


# 10 images: statuses cycle through the four; two have telling names
ITEMS = [_item(i, STATUSES[i % 4]) for i in range(8)] + [
    _item(8, "done", "aisle 3/Cereal Box.JPG"), _item(9, "unlabelled", "aisle 3/cereal-bar.png")]


@pytest.mark.parametrize(("statuses", "query", "ids"), [
    (None, "", list(range(100, 110))),  # no filter: everything, in order
    ((), "", list(range(100, 110))),  # an empty pill selection is "all" too
    (("done",), "", [103, 107, 108]),
    (("unlabelled", "draft"), "", [100, 101, 104, 105, 109]),
    (None, "cereal", [108, 109]),  # case-insensitive substring of the file name
    (None, "aisle box", [108]),  # every word must occur
    (("unlabelled",), "CEREAL", [109]),  # filter and search together
    (None, "img_000", list(range(100, 108))),
    (("review",), "cereal", []),
])
def test_filter_and_search(statuses: tuple[str, ...] | None, query: str, ids: list[int]) -> None:
    assert [i.id for i in filter_items(ITEMS, statuses, query)] == ids


def test_unknown_status_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput, match="expected some of unlabelled, draft, review, done"):
        check_statuses(["todo"])


def test_counts_follow_the_search_not_the_status_filter() -> None:
    assert status_counts(ITEMS) == {"unlabelled": 3, "draft": 2, "review": 2, "done": 3}
    assert status_counts(ITEMS, "cereal") == {"unlabelled": 1, "draft": 0, "review": 0, "done": 1}
    assert list(status_counts([])) == list(STATUSES)


@pytest.mark.parametrize(("total", "size", "pages"), [(0, 48, 1), (1, 48, 1), (48, 48, 1), (49, 48, 2), (5000, 48, 105)])
def test_page_count(total: int, size: int, pages: int) -> None:
    assert page_count(total, size) == pages


def test_pages_are_clamped_and_know_their_positions() -> None:
    many = [_item(i, "unlabelled") for i in range(5000)]
    page = page_of(many, 2, 48)
    assert (page.page, page.pages, page.first, page.last, page.total) == (2, 105, 97, 144, 5000)
    assert [i.id for i in page.items] == list(range(196, 244))
    last = page_of(many, 999, 48)
    assert (last.page, last.first, last.last, len(last.items)) == (104, 4993, 5000, 8)
    assert page_of(many, -3, 48).page == 0
    empty = page_of([], 4)
    assert (empty.page, empty.pages, empty.first, empty.last, empty.items) == (0, 1, 0, 0, [])
    with pytest.raises(InvalidInput, match="page size 0"):
        page_of(many, 0, 0)


def test_page_containing_an_image() -> None:
    many = [_item(i, "unlabelled") for i in range(200)]
    assert page_containing(many, 100 + 97, 48) == 2
    assert page_containing(many, 100, 48) == 0
    assert page_containing(many, 12345, 48) is None and page_containing(many, None, 48) is None


@pytest.mark.parametrize(("query", "expected"), [
    ("3", 102),  # a position (1-based) among the images shown
    ("#10", 109),
    (" 1 ", 100),
    ("cereal box.jpg", 108),  # exact name without the folder, case-insensitive
    ("aisle 3/cereal-bar.png", 109),  # exact name with the folder
    ("cereal", 108),  # otherwise the first name that contains it
    ("IMG_0005", 105),
])
def test_jump_to_a_position_or_a_name(query: str, expected: int) -> None:
    assert jump_target(ITEMS, query).id == expected


@pytest.mark.parametrize(("items", "query", "message"), [
    (ITEMS, "11", r"position 11: expected 1\.\.10"),
    (ITEMS, "#0", r"position 0: expected 1\.\.10"),
    (ITEMS, "pasta", "no image named like 'pasta' among the 10 shown; expected a position"),
    (ITEMS, "  ", r"expected a position 1\.\.10 or part of a file name"),
    ([], "1", "the filter and the search leave none"),
])
def test_jump_refusals_say_what_is_accepted(items: list[ImageItem], query: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        jump_target(items, query)
