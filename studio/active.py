"""Active learning: which unlabelled image to label next.

A **ranking** orders a dataset's images that have no accepted annotation yet (status unlabelled
or draft) by how unsure a model version is about them, most unsure first, and is stored
(tables ``ranking`` / ``rankedimage``); the Label page's "next to do" follows the newest one
(:func:`ranked_todo`), and :func:`prelabel_top` turns the first K into drafts.

Scores per image (higher = label it sooner), from the version's softmax probabilities:

- ``entropy``: mean over pixels (segmentation) or objects (classifiers) of the entropy of the
  class probabilities, divided by ``log C`` (0 = certain, 1 = uniform);
- ``margin``: mean of ``1 - (p_top1 - p_top2)`` (1 = the two best classes tie);
- ``disagreement``: two versions, the mean total-variation distance ``0.5 * sum |p - q|``
  between their probabilities (0 = they agree exactly, 1 = disjoint).

Per task: semantic models score every pixel at the image's size; classifiers score the crops
of the image's draft annotations (their boxes, as training crops them), else the whole image;
instance models score their detections (score >= 0.05) as two-class probabilities (an image
where nothing is found scores 1: the model has nothing to offer there), disagreement by the
share of pixels whose painted class differs. Sign models (sequences) are not ranked.

Refused before any work (InvalidInput): a version whose classes are not the dataset's (the
message names the classes only one of them has), a sequence model, two versions of different
tasks or classes, a dataset with nothing left to label.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlmodel import col, select

from studio.db import session_scope
from studio.errors import InvalidInput, NotFound
from studio.progress import ProgressFn, null_progress
from studio.tables import LabelClass, ModelVersion, RankedImage, Ranking, Task

METHODS = ("entropy", "margin", "disagreement")
RANKED_TASKS = (Task.semantic.value, Task.instance.value, Task.classification.value)
TO_RANK = ("unlabelled", "draft")  # image statuses (studio.annotations) a ranking orders
INSTANCE_MIN_SCORE = 0.05


# --------------------------------------------------------------------------- scores


def _probabilities(probs: np.ndarray) -> np.ndarray:
    """(C, N) float64 probabilities from (C,), (C, H, W) or (C, N), renormalised."""
    p = np.asarray(probs, np.float64)
    if p.ndim == 1:
        p = p[:, None]
    elif p.ndim == 3:
        p = p.reshape(p.shape[0], -1)
    if p.ndim != 2 or p.shape[0] < 2 or p.shape[1] < 1:
        raise InvalidInput(f"probabilities: expected (C,), (C, H, W) or (C, N) with C >= 2, got {np.shape(probs)}")
    p = np.clip(p, 0.0, None)
    return p / np.maximum(p.sum(0, keepdims=True), 1e-12)


def uncertainty(probs: np.ndarray, method: str) -> float:
    """The uncertainty score of one image's probabilities (see the module docstring): ``probs``
    (C,) for a class distribution, (C, H, W) per pixel, or (C, N) for N objects."""
    p = _probabilities(probs)
    if method == "entropy":
        entropy = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum(0)
        return float(entropy.mean() / np.log(p.shape[0]))
    if method == "margin":
        top2 = np.sort(p, axis=0)[-2:]
        return float((1.0 - (top2[1] - top2[0])).mean())
    raise InvalidInput(f"method {method!r}: expected entropy or margin for one version (disagreement needs two)")


def disagreement(p: np.ndarray, q: np.ndarray) -> float:
    """Mean total-variation distance between two versions' probabilities of the same image."""
    a, b = _probabilities(p), _probabilities(q)
    if a.shape != b.shape:
        raise InvalidInput(f"disagreement: the two probability arrays differ in shape: {a.shape} vs {b.shape}")
    return float((0.5 * np.abs(a - b).sum(0)).mean())


def _instance_probs(output: Any) -> np.ndarray:
    """(2, N) probabilities (object, not object) of an instance output's detections."""
    s = np.asarray(output.scores, np.float64)
    s = s[s >= INSTANCE_MIN_SCORE]
    return np.stack([s, 1.0 - s]) if len(s) else np.full((2, 1), 0.5)


def _crops(image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[np.ndarray]:
    from studio.training.data import crop_box

    out = []
    for box in boxes:
        x0, y0, x1, y1 = crop_box(list(box), image.shape[1], image.shape[0])
        if x1 > x0 and y1 > y0:
            out.append(image[y0:y1, x0:x1])
    return out or [image]


def image_probabilities(predictor: Any, images: Sequence[np.ndarray], boxes: Sequence[Sequence[Sequence[float]]]
                        ) -> list[np.ndarray]:
    """Per image, what its uncertainty is computed from: semantic (C, H, W); classification
    (C, N) over its crops; instance (2, N) over its detections."""
    task = predictor.task
    if task == Task.semantic.value:
        return [o.probs for o in predictor.predict_batch(list(images), with_probs=True)]
    if task == Task.classification.value:
        out = []
        for image, image_boxes in zip(images, boxes):
            outputs = predictor.predict_batch(_crops(image, image_boxes))
            out.append(np.stack([o.probs for o in outputs], 1))
        return out
    if task == Task.instance.value:
        return [_instance_probs(o) for o in predictor.predict_batch(list(images), conf=INSTANCE_MIN_SCORE)]
    raise InvalidInput(f"model {predictor.version.name} is a {task} model; ranking needs an image model "
                       f"({', '.join(RANKED_TASKS)})")


def _instance_disagreement(a: Any, b: Any, images: Sequence[np.ndarray]) -> list[float]:
    outs_a = a.predict_batch(list(images), conf=0.25)
    outs_b = b.predict_batch(list(images), conf=0.25)
    return [float((x.to_semantic(*im.shape[:2]) != y.to_semantic(*im.shape[:2])).mean())
            for x, y, im in zip(outs_a, outs_b, images)]


def score_images(predictor: Any, images: Sequence[np.ndarray], method: str, *, other: Any = None,
                 boxes: Sequence[Sequence[Sequence[float]]] | None = None) -> list[float]:
    """One score per image (higher = label sooner) by ``method``; ``other``: the second
    predictor of ``disagreement``; ``boxes``: per image, the [x, y, w, h] boxes of its draft
    objects (classifiers score those crops)."""
    boxes = boxes if boxes is not None else [[] for _ in images]
    if method == "disagreement":
        if other is None:
            raise InvalidInput("method disagreement: expected a second model version (--against)")
        if predictor.task == Task.instance.value:
            return _instance_disagreement(predictor, other, images)
        return [disagreement(p, q) for p, q in zip(image_probabilities(predictor, images, boxes),
                                                   image_probabilities(other, images, boxes))]
    if method not in METHODS:
        raise InvalidInput(f"method {method!r}: expected one of {', '.join(METHODS)}")
    probs = image_probabilities(predictor, images, boxes)
    if predictor.task == Task.instance.value:
        return [1.0 if p.shape[1] == 1 and np.all(p == 0.5) else uncertainty(p, method) for p in probs]
    return [uncertainty(p, method) for p in probs]


# --------------------------------------------------------------------------- checks


def check_rankable(version: ModelVersion, dataset: str, other: ModelVersion | None = None) -> None:
    """InvalidInput unless ``version`` (and ``other``) can rank ``dataset``'s images: an image
    model whose classes are exactly the dataset's (background aside), two of the same task and classes."""
    from studio.datasets import get_dataset

    if version.task not in RANKED_TASKS:
        raise InvalidInput(f"model {version.name} is a {version.task} model; ranking needs an image model "
                           f"({', '.join(RANKED_TASKS)})")
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        have = {c.name for c in session.exec(select(LabelClass).where(LabelClass.dataset_id == ds.id)).all()
                if c.index != 0}
    for v in (version, other) if other is not None else (version,):
        names = {c["name"] for c in v.classes if not (v.task == Task.semantic.value and int(c["index"]) == 0)}
        if names != have:
            parts = []
            if names - have:
                parts.append(f"only the model has {sorted(names - have)}")
            if have - names:
                parts.append(f"only the dataset has {sorted(have - names)}")
            raise InvalidInput(f"model {v.name} and dataset {dataset!r} have different classes: {'; '.join(parts)}; "
                               "expected a version trained on this dataset's classes")
    if other is not None:
        from studio.evaluation.compare import check_comparable

        check_comparable(version, other)


# --------------------------------------------------------------------------- the ranking


@dataclass
class RankReport:
    """What a rank job did: ``ranked`` images stored in ranking ``ranking_id`` (most uncertain
    first), ``top`` their first names and scores; ``prelabelled``: drafts written on the top K."""

    ranking_id: int
    dataset: str
    method: str
    model: str
    other_model: str = ""
    ranked: int = 0
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    top: list[tuple[str, float]] = field(default_factory=list)
    prelabelled: int = 0  # images of the top K that got drafts
    drafts: int = 0


def _to_rank(dataset: str, split: str | None) -> list[Any]:
    from studio.annotations import image_queue

    items = image_queue(dataset, TO_RANK)
    return [i for i in items if split is None or i.split == split]


def _draft_boxes(image_ids: Sequence[int]) -> dict[int, list[list[float]]]:
    from studio.tables import Annotation, AnnotationStatus

    boxes: dict[int, list[list[float]]] = {}
    with session_scope() as session:
        for image_id, bbox in session.exec(select(Annotation.image_id, Annotation.bbox).where(
                col(Annotation.image_id).in_(list(image_ids)), Annotation.status == AnnotationStatus.draft.value)):
            boxes.setdefault(int(image_id), []).append(list(bbox))
    return boxes


def rank_dataset(model: str | int, dataset: str, *, method: str = "entropy", other_model: str | int | None = None,
                 split: str | None = None, limit: int | None = None, batch_size: int = 4, runtime: str = "torch",
                 device: str | None = None, job_id: str | None = None,
                 progress: ProgressFn = null_progress) -> RankReport:
    """Score every image of ``dataset`` still to label (optionally one split; at most ``limit``
    of them, in import order) with ``method`` and store the order (one transaction)."""
    from studio.datasets import get_dataset
    from studio.images import load_rgb
    from studio.inference import as_version, load_predictor

    if method not in METHODS:
        raise InvalidInput(f"method {method!r}: expected one of {', '.join(METHODS)}")
    if (method == "disagreement") != (other_model is not None):
        raise InvalidInput("method disagreement takes a second model version (--against); entropy and margin one")
    if job_id is not None:
        with session_scope() as session:
            done = session.exec(select(Ranking).where(Ranking.job_id == job_id)).first()
            if done is not None:  # a requeued job whose first attempt stored it: once only
                return RankReport(int(done.id), dataset, done.method, done.model, done.other_model,  # type: ignore[arg-type]
                                  done.image_count)
    started = time.perf_counter()
    version = as_version(model)
    other = as_version(other_model) if other_model is not None else None
    check_rankable(version, dataset, other)
    items = _to_rank(dataset, split)
    if limit is not None:
        items = items[:max(int(limit), 0)]
    if not items:
        raise InvalidInput(f"dataset {dataset!r} has no image left to label" + (f" in split {split!r}" if split else "")
                           + "; nothing to rank")
    predictor = load_predictor(version, runtime=runtime, device=device)
    second = load_predictor(other, runtime=runtime, device=device) if other is not None else None
    boxes = _draft_boxes([i.id for i in items]) if version.task == Task.classification.value else {}
    report = RankReport(0, dataset, method, version.name, other.name if other is not None else "")
    scored: list[tuple[int, str, float]] = []
    for start in range(0, len(items), batch_size):
        batch = [i for i in items[start: start + batch_size] if i.exists]
        report.missing += [i.file_name for i in items[start: start + batch_size] if not i.exists]
        if batch:
            scores = score_images(predictor, [load_rgb(i.path) for i in batch], method, other=second,
                                  boxes=[boxes.get(i.id, []) for i in batch])
            scored += [(i.id, i.file_name, s) for i, s in zip(batch, scores)]
        done = min(start + batch_size, len(items))
        progress(0.98 * done / len(items), f"scored {done}/{len(items)} images")
    scored.sort(key=lambda t: (-t[2], t[0]))  # most uncertain first; ties in import order
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        ranking = Ranking(dataset_id=int(ds.id), method=method, model=version.name,  # type: ignore[arg-type]
                          other_model=report.other_model, model_version_id=version.id, image_count=len(scored),
                          seconds=time.perf_counter() - started, job_id=job_id)
        session.add(ranking)
        session.flush()
        session.add_all(RankedImage(ranking_id=int(ranking.id), image_id=image_id, position=k, score=float(score))  # type: ignore[arg-type]
                        for k, (image_id, _, score) in enumerate(scored))
        report.ranking_id = int(ranking.id)  # type: ignore[arg-type]
    report.ranked, report.seconds = len(scored), time.perf_counter() - started
    report.top = [(name, round(score, 4)) for _, name, score in scored[:10]]
    progress(1.0, f"ranked {len(scored)} images by {method}")
    return report


@dataclass(frozen=True)
class RankingView:
    id: int
    dataset: str
    method: str
    model: str
    other_model: str
    image_count: int
    created: str


def latest_ranking(dataset: str) -> RankingView | None:
    """The newest ranking of ``dataset`` (what "next to do" follows), or None."""
    from studio.datasets import get_dataset

    with session_scope() as session:
        ds = get_dataset(session, dataset)
        row = session.exec(select(Ranking).where(Ranking.dataset_id == ds.id).order_by(col(Ranking.id).desc())).first()
        if row is None:
            return None
        return RankingView(int(row.id), dataset, row.method, row.model, row.other_model, row.image_count,  # type: ignore[arg-type]
                           row.created_at.strftime("%Y-%m-%d %H:%M"))


def ranked_scores(dataset: str) -> list[tuple[int, float]]:
    """(image id, score) of the newest ranking of ``dataset`` in its order (empty without one)."""
    view = latest_ranking(dataset)
    if view is None:
        return []
    with session_scope() as session:
        return [(int(i), float(s)) for i, s in session.exec(
            select(RankedImage.image_id, RankedImage.score).where(RankedImage.ranking_id == view.id)
            .order_by(col(RankedImage.position))).all()]


def ranked_todo(dataset: str, statuses: Sequence[str] | None = None) -> list[int]:
    """The ids of ``dataset``'s images still to do (``statuses``: default the Label page's "next
    to do" ones: unlabelled, draft, review) in the order to label them: the newest ranking's
    order first (images labelled since drop out), then images it does not cover (added since,
    or sent to review) in import order. Without a ranking: import order."""
    from studio.annotations import TODO_STATUSES, image_queue

    todo = [i.id for i in image_queue(dataset, tuple(statuses or TODO_STATUSES))]
    waiting = set(todo)
    ranked = [image_id for image_id, _ in ranked_scores(dataset) if image_id in waiting]
    seen = set(ranked)
    return ranked + [i for i in todo if i not in seen]


def next_ranked(dataset: str, current_id: int | None = None) -> int | None:
    """The image to open after ``current_id`` in :func:`ranked_todo` order (the first one when
    ``current_id`` is None or no longer to do; wraps around); None when nothing is left."""
    order = ranked_todo(dataset)
    if not order:
        return None
    if current_id in order:
        k = order.index(current_id)
        rest = order[k + 1:] + order[:k]
        return rest[0] if rest else None
    return order[0]


def prelabel_top(dataset: str, k: int, model: str | int | None = None, *, min_score: float = 0.5,
                 runtime: str = "torch", device: str | None = None,
                 progress: ProgressFn = null_progress) -> Any:
    """Pre-label the first ``k`` images of :func:`ranked_todo` (only unlabelled / draft ones) as
    drafts with ``model`` (default: the newest ranking's version; a segmentation model), through
    ``studio.prelabel``; its PrelabelReport."""
    from studio.prelabel import prelabel

    if k < 1:
        raise InvalidInput(f"k {k}: expected at least 1 image to pre-label")
    if model is None:
        view = latest_ranking(dataset)
        if view is None:
            raise NotFound(f"dataset {dataset!r} has no ranking yet; rank it first (`studio rank {dataset} MODEL`) "
                           "or name the model to pre-label with")
        model = view.model
    ids = ranked_todo(dataset, TO_RANK)[:k]
    if not ids:
        raise InvalidInput(f"dataset {dataset!r} has no unlabelled image to pre-label")
    return prelabel(model, dataset, image_ids=ids, min_score=min_score, runtime=runtime, device=device,
                    progress=progress)


__all__ = ["METHODS", "RankReport", "RankingView", "check_rankable", "disagreement", "image_probabilities",
           "latest_ranking", "next_ranked", "prelabel_top", "rank_dataset", "ranked_scores", "ranked_todo",
           "score_images", "uncertainty"]
