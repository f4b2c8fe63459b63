"""The Label page's server side in a team (studio.label_workspace with studio.leases, annotation
versions and the active-learning order): two annotators never hold one image, a stale edit
through the HTTP API is refused with what changed, "next to do" follows a ranking. Real
SQLite (and PostgreSQL in the db pass), the real label API over starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from studio import annotations as ann
from studio import masks
from studio.errors import Conflict
from studio_ui.web import label_api


@pytest.fixture
def shelves(studio_env: dict[str, str], tmp_path: Path) -> list[int]:
    """Four demo scenes, none labelled yet; their image ids in import order."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(tmp_path / "demo", n_images=4, seed=0, width=160, height=120)
    doc.annotations = []
    ingest_doc(doc, dataset="shelves")
    return [i.id for i in ann.image_queue("shelves")]


def _workspace(author: str):  # noqa: ANN202
    from studio.label_workspace import LabelWorkspace
    from studio.segment import FallbackSegmenter

    return LabelWorkspace("shelves", FallbackSegmenter(), author=author)


def _class(name: str):  # noqa: ANN202
    from studio import classes

    return next(c for c in classes.list_classes(dataset="shelves") if c.name == name)


def _square(item: ann.ImageItem) -> dict:
    mask = np.zeros((item.height, item.width), bool)
    mask[20:60, 30:80] = True
    return masks.encode(mask)


def test_two_annotators_never_hold_the_same_image(shelves: list[int]) -> None:
    from studio.labelling.protocol import AcceptRequest

    can = _class("can")
    ana, ben = _workspace("ana"), _workspace("ben")
    assert ana.item.id == shelves[0] and ana.held_by is None
    assert ben.item.id == shelves[1]  # her image is skipped: his first "next to do" is the next one
    ben.open(shelves[0])  # he looks at hers anyway
    assert ben.held_by == "ana" and "ana is labelling this image" in ben.error
    with pytest.raises(Conflict, match="being labelled by ana"):  # and cannot change it
        ben.accept(AcceptRequest(shelves[0], can.id, _square(ben.item), "manual"))
    reply = ana.accept(AcceptRequest(shelves[0], can.id, _square(ana.item), "manual"))
    assert reply.annotation.author == "ana" and reply.annotation.version == 1
    ana.close()  # she leaves: now he may
    ben.keep_lease()
    assert ben.held_by is None
    assert ben.go(1, todo_only=True) and ben.item.id not in (shelves[0],)


def test_next_to_do_follows_the_newest_ranking(shelves: list[int]) -> None:
    from studio.db import session_scope
    from studio.tables import Dataset, RankedImage, Ranking
    from sqlmodel import select

    with session_scope() as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == "shelves")).one()
        ranking = Ranking(dataset_id=dataset.id, method="entropy", model="m", image_count=4)
        session.add(ranking)
        session.flush()
        for position, image_id in enumerate([shelves[2], shelves[0], shelves[3], shelves[1]]):
            session.add(RankedImage(ranking_id=ranking.id, image_id=image_id, position=position, score=1 - position / 4))
    ws = _workspace("ana")
    assert ws.item.id == shelves[2]  # the most uncertain first
    assert [i.id for i in ws.upcoming(3)] == [shelves[0], shelves[3], shelves[1]]
    assert ws.go(1, todo_only=True) and ws.item.id == shelves[0]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=label_api.routes())) as test_client:
        yield test_client


def test_a_stale_edit_over_http_is_refused_with_what_changed(shelves: list[int], client: TestClient) -> None:
    can, jar = _class("can"), _class("jar")
    ws = _workspace("ana")
    api = label_api.api_base(label_api.register(ws))
    created = client.post(f"{api}/annotations", json={"image_id": ws.item.id, "class_id": can.id,
                                                      "rle": _square(ws.item), "source": "manual"}).json()
    seen = created["annotation"]
    assert seen["version"] == 1
    ann.update_annotation(seen["id"], class_id=jar.id, editor="ben")  # a colleague re-classes it meanwhile
    stale = client.post(f"{api}/annotations/{seen['id']}", json={"status": "rejected", "version": seen["version"]})
    assert stale.status_code == 409
    body = stale.json()
    assert body["stale"] and body["by"] == "ben" and "class can -> jar" in body["changes"]
    assert body["attempted"]["status"] == "rejected" and body["revision"] > created["revision"]
    assert ann.get_annotation(seen["id"]).status == "accepted"  # nothing written
    gone = client.delete(f"{api}/annotations/{seen['id']}?version=1")
    assert gone.status_code == 409 and ann.get_annotation(seen["id"]) is not None
    fresh = client.post(f"{api}/annotations/{seen['id']}", json={"status": "rejected", "version": 2})
    assert fresh.status_code == 200 and fresh.json()["annotation"]["version"] == 3
    label_api.release(ws)
