"""Leases and assignments (studio/leases.py) against the real database: one holder per image
under threads racing for it (SQLite here, PostgreSQL in its pass), expiry, renewal, release,
the per-user "next to do" and an admin's assignments."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from studio import annotations as ann
from studio import leases
from studio.errors import InvalidInput
from studio.users import create_user

PASSWORD = "long enough password"


@pytest.fixture
def shelves(studio_env: dict[str, str], tmp_path: Path) -> list[ann.ImageItem]:
    """A 12-image demo dataset, every image unlabelled (images/shelf_0000.jpg ... shelf_0011.jpg),
    splits alternating train / val; users ana, bo and cy."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(tmp_path / "demo", n_images=12, seed=3)
    doc.annotations = []
    for n, image in enumerate(doc.images):
        image.split = "val" if n % 2 else "train"
    ingest_doc(doc, dataset="shelves")
    for name in ("ana", "bo", "cy"):
        create_user(name=name, role="annotator", password=PASSWORD)
    return ann.image_queue("shelves")


def test_acquire_taken_renew_release(shelves: list[ann.ImageItem]) -> None:
    first = shelves[0].id
    held = leases.acquire(first, "ana", ttl=60)
    assert held.holder == "ana" and (held.expires_at - held.acquired_at).total_seconds() == pytest.approx(60, abs=1)
    with pytest.raises(leases.Taken, match="being labelled by ana") as taken:
        leases.acquire(first, "bo")
    assert taken.value.holder == "ana"
    renewed = leases.renew(first, "ana", ttl=120)
    assert renewed.acquired_at == held.acquired_at and renewed.expires_at > held.expires_at
    assert leases.release(first, "bo") is False  # someone else's lease stays
    assert leases.holders([first])[first].holder == "ana"
    assert leases.release(first, "ana") is True
    assert leases.holders([first]) == {}
    assert leases.acquire(first, "bo").holder == "bo"


def test_an_expired_lease_is_free_and_its_renewal_fails_once_taken(shelves: list[ann.ImageItem]) -> None:
    first = shelves[0].id
    leases.acquire(first, "ana", ttl=0.2)
    time.sleep(0.4)
    assert leases.holders([first]) == {}  # expired: nobody holds it
    leases.acquire(first, "bo", ttl=60)  # so bo may take it
    with pytest.raises(leases.Taken, match="by bo"):
        leases.renew(first, "ana")  # ana comes back too late: bo's work wins
    leases.acquire(shelves[1].id, "cy", ttl=0.1)
    time.sleep(0.3)
    assert leases.renew(shelves[1].id, "cy", ttl=60).holder == "cy"  # lapsed but nobody took it: hers again
    assert leases.expire_stale() == 0


def test_opening_another_image_ends_the_previous_lease(shelves: list[ann.ImageItem]) -> None:
    a, b = shelves[0].id, shelves[1].id
    leases.acquire(a, "ana")
    leases.acquire(b, "ana")
    assert set(leases.holders()) == {b}
    leases.acquire(a, "ana", release_others=False)
    assert set(leases.holders()) == {a, b}
    assert leases.release_all("ana") == 2


def test_threads_racing_for_one_image_one_wins(shelves: list[ann.ImageItem]) -> None:
    """Compare-and-set in the database: 16 threads (each its own connection) take the same image
    at once; exactly one holds it."""
    image_id = shelves[0].id
    barrier = threading.Barrier(16)

    def take(n: int) -> bool:
        barrier.wait()
        return leases.try_acquire(image_id, f"user{n}", ttl=60)

    with ThreadPoolExecutor(16) as pool:
        won = list(pool.map(take, range(16)))
    assert won.count(True) == 1
    assert leases.holders([image_id])[image_id].holder == f"user{won.index(True)}"


def test_threads_claiming_next_to_do_never_share_an_image(shelves: list[ann.ImageItem]) -> None:
    """Eight annotators press "next to do" over and over while others do the same: at every
    moment each image has one holder at most, and every image is handed out."""
    barrier = threading.Barrier(8)
    claims: list[tuple[str, int]] = []
    lock = threading.Lock()
    overlaps: list[str] = []
    working: dict[int, str] = {}

    def annotator(n: int) -> None:
        name = f"user{n}"
        barrier.wait()
        current = None
        for _ in range(6):
            item = leases.claim_next(name, "shelves", after=current, ttl=60)
            if item is None:
                break
            with lock:
                if item.id in working:
                    overlaps.append(f"{name} got {item.id} held by {working[item.id]}")
                working[item.id] = name
                claims.append((name, item.id))
            time.sleep(0.01)
            with lock:
                working.pop(item.id, None)
            leases.release(item.id, name)
            current = item.id

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(annotator, range(8)))
    assert overlaps == []
    assert {image_id for _, image_id in claims} == {i.id for i in shelves}  # nothing is done: all handed out


def test_todo_skips_images_others_hold(shelves: list[ann.ImageItem]) -> None:
    a, b, c = (i.id for i in shelves[:3])
    leases.acquire(a, "bo")
    leases.acquire(b, "ana")
    todo = [i.id for i in leases.todo_for("ana", "shelves")]
    assert a not in todo and b in todo and c in todo  # her own leased image stays in her queue
    nxt = leases.claim_next("ana", "shelves", after=b)
    assert nxt.id == c and set(leases.holders()) == {a, c}  # leaving b released it


def test_done_images_leave_the_queue(shelves: list[ann.ImageItem]) -> None:
    import numpy as np

    from studio.classes import list_classes

    box = list_classes(dataset="shelves")[-1]
    first = shelves[0]
    mask = np.zeros((first.height, first.width), bool)
    mask[5:20, 5:20] = True
    ann.add_annotation(image_id=first.id, class_id=box.id, mask=mask, source="manual", author="ana")
    assert first.id not in [i.id for i in leases.todo_for("bo", "shelves")]


@pytest.mark.parametrize("conditions, expected", [
    ({"first": 3, "last": 5}, [3, 4, 5]),  # a position range (1-based, import order)
    ({"first": 10}, [10, 11, 12]),  # open end
    ({"last": 2}, [1, 2]),  # open start
    ({"split": "val"}, [2, 4, 6, 8, 10, 12]),  # a split
    ({"pattern": "images/shelf_000[0-3].*"}, [1, 2, 3, 4]),  # a file-name glob
    ({"split": "train", "first": 1, "last": 6}, [1, 3, 5]),  # every condition must hold
    ({"status": "done"}, []),  # nothing is done yet
])
def test_assignments_shape_the_queue(shelves: list[ann.ImageItem], conditions: dict, expected: list[int]) -> None:
    leases.assign(dataset="shelves", user="ana", by="admin", **conditions)
    position = {item.id: n for n, item in enumerate(shelves, start=1)}
    assert [position[i.id] for i in leases.todo_for("ana", "shelves")] == expected
    assert len(leases.todo_for("bo", "shelves")) == 12  # no assignment: every image


def test_two_assignments_add_up_and_can_be_removed(shelves: list[ann.ImageItem]) -> None:
    one = leases.assign(dataset="shelves", user="ana", first=1, last=2)
    leases.assign(dataset="shelves", user="ana", first=11)
    assert len(leases.todo_for("ana", "shelves")) == 4
    assert [a.describe() for a in leases.list_assignments(user="ana")] == ["images 1-2", "images 11-end"]
    leases.unassign(one.id)
    assert len(leases.todo_for("ana", "shelves")) == 2


@pytest.mark.parametrize("conditions, message", [
    ({"split": "holdout"}, "split 'holdout'"),  # unknown split
    ({"status": "pending"}, "status 'pending'"),  # unknown status
    ({"first": 0}, "positions start at 1"),
    ({"first": 5, "last": 2}, "comes before the first"),
    ({"user": "nobody"}, "no user 'nobody'"),
])
def test_bad_assignments_are_refused(shelves: list[ann.ImageItem], conditions: dict, message: str) -> None:
    kwargs = {"dataset": "shelves", "user": "ana", **conditions}
    with pytest.raises(InvalidInput, match=message):
        leases.assign(**kwargs)
    assert leases.list_assignments() == []


def test_removing_a_user_ends_their_leases_and_assignments(shelves: list[ann.ImageItem]) -> None:
    from studio.users import remove_user

    leases.acquire(shelves[0].id, "bo")
    leases.assign(dataset="shelves", user="bo", first=1, last=3)
    remove_user("bo")
    assert leases.holders() == {} and leases.list_assignments() == []
    assert Counter(i.status for i in leases.todo_for("ana", "shelves")) == {"unlabelled": 12}
