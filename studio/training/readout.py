"""What a finished training run says about itself, for the job result, its log and the pages:

- the registered version scored on the val split **the way Evaluate scores it** (an evaluation
  written by the train job itself, so the Models and Evaluate pages show the same number);
- the chance level of the monitored metric on that split (``studio.training.chance``) and a
  warning when the run ends there;
- :func:`train_vs_eval_note`: why the training-time value of the monitored metric and
  Evaluate's value of the same weights differ, in words (the pages show it).

Why they differ (measured, not guessed): the training loop scores its val batches as it trains
on them, each image fitted into an ``image_size`` square whose bottom/right is padded with black
pixels (labels resized to the same square, the padding ignored); Evaluate, Live and
pre-labelling predict each image as it is: the longer side resized to ``image_size``, padded only
up to the network's size multiple with the mean colour, the logits upsampled to the image's full
size and scored against its full-size labels. The black band is input the network sees in
training and never in use; for a model still learning it moves many predictions (a 4-epoch UNet
on 320x240 shelves: 0.064 training-time vs 0.154 Evaluate; scored at training size through the
Evaluate path: 0.156, so the resolution is not what differs), for a trained one a point or two
(0.634 vs 0.618). Evaluate's number is the one to trust: it is how the model is used.
Classifiers (object crops fitted into the same square in both), classical models and sign
models score the same inputs both ways; YOLO's training value is ultralytics' mAP, Evaluate's
pycocotools' COCO AP on masks at full size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.errors import StudioError
from studio.naming import metric_label, monitored_label
from studio.progress import ProgressFn, null_progress
from studio.training.chance import ChanceLevel, chance_level, uniform_counts

EVAL_KEYS = {"map50": "ap50", "map": "ap"}  # a training metric -> the Evaluate summary key of the same idea


@dataclass(frozen=True)
class Readout:
    evaluation_id: int | None  # the evaluation the job wrote (None: not evaluated, ``note`` says why)
    eval_value: float | None  # the monitored metric as Evaluate scores it
    chance: ChanceLevel | None
    note: str = ""  # why there is no evaluation

    @property
    def warning(self) -> str:
        return self.chance.message() if self.chance is not None else ""


def eval_key(metric: str) -> str:
    """The Evaluate summary key of training metric ``metric`` (``map50`` -> ``ap50``)."""
    return EVAL_KEYS.get(metric, metric)


def read_out(version: Any, metric: str, best_value: float, *, job_id: str | None = None, evaluate: bool = True,
             progress: ProgressFn = null_progress, log: Callable[[str], None] = lambda line: None) -> Readout:
    """Evaluate ``version`` (a registered ModelVersion) on val as Evaluate does, record the result
    on the version's metrics (``eval_<metric>``, ``evaluation_id``, ``chance_<metric>``) and check
    the chance level of ``metric`` (the run's ``best_value`` when there is no evaluation)."""
    from studio.registry import update_metrics

    evaluation_id, eval_value, note, counts, names, unit = None, None, "", None, None, "samples"
    if evaluate:
        from studio.evaluation.run import evaluate_version
        from studio.evaluation.views import get_evaluation

        try:
            evaluation_id = evaluate_version(version.id, split="val", progress=progress, job_id=job_id)
        except Exception as exc:  # noqa: BLE001 - the run succeeded; an evaluation that cannot run is only said
            note = f"not evaluated on val after training ({exc if isinstance(exc, StudioError) else repr(exc)})"
            log(note)
        else:
            view = get_evaluation(evaluation_id)
            value = view.summary.get(eval_key(metric))
            eval_value = float(value) if isinstance(value, (int, float)) else None
            counts, names = view.confusion.sum(1), view.class_names
            unit = "pixels" if view.task in ("semantic", "instance") else "samples"
            if eval_value is not None:
                log(f"evaluation {evaluation_id} (val, scored as Evaluate does): {metric_label(metric)} "
                    f"{eval_value:.4f}; training-time {monitored_label(metric)} {best_value:.4f}")
    if counts is None:
        counts, names, unit = _val_counts(version)
    value = eval_value if eval_value is not None else best_value
    chance = chance_level(metric, value, counts, names, unit) if counts is not None else None
    recorded: dict[str, Any] = {}
    if eval_value is not None:
        recorded.update({f"eval_{metric}": eval_value, "evaluation_id": evaluation_id})
    if chance is not None:
        recorded[f"chance_{metric}"] = chance.chance
        if chance.at_chance:
            log("WARNING " + chance.message())
    if recorded:
        update_metrics(int(version.id), recorded)
    return Readout(evaluation_id, eval_value, chance, note)


def _val_counts(version: Any) -> tuple[np.ndarray | None, list[str] | None, str]:
    """Class counts of the version's val data when there is no evaluation to read them from:
    pixels per class (semantic), objects per class (classification), equal counts otherwise."""
    from studio.registry import output_names

    task = version.task
    names = output_names(task, version.classes)
    try:
        if task == "semantic" and version.dataset_version_id is not None:
            from studio.evaluation.data import class_lut
            from studio.training.data import label_map

            val = _val_samples(version.dataset_version_id)
            lut = class_lut(version.classes, val[1])
            counts = np.zeros(len(names), np.int64)
            for sample in val[0]:
                label = lut[label_map(sample)]
                counts += np.bincount(label[label != 255], minlength=len(names))[:len(names)]
            return counts, names, "pixels"
        if task == "classification" and version.dataset_version_id is not None:
            val, classes = _val_samples(version.dataset_version_id)
            position = {int(c["index"]): names.index(c["name"]) for c in classes if c["name"] in names}
            counts = np.zeros(len(names), np.int64)
            for sample in val:
                for index, _, crowd in sample.objects:
                    if not crowd and int(index) in position:
                        counts[position[int(index)]] += 1
            return counts, names, "samples"
    except StudioError:
        pass
    if task in ("classification", "sequence"):
        return uniform_counts(len(names)), names, "samples"
    return None, None, "samples"


def _val_samples(dataset_version_id: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """(val samples as training splits them, the version's classes)."""
    from studio.db import session_scope
    from studio.tables import Dataset, DatasetVersion
    from studio.training.data import load_version

    with session_scope() as session:
        dv = session.get(DatasetVersion, dataset_version_id)
        if dv is None:
            raise StudioError(f"no dataset version {dataset_version_id}")
        name, number = session.get(Dataset, dv.dataset_id).name, dv.version  # type: ignore[union-attr]
    data = load_version(name, number)
    return data.train_val()[1], data.classes


# --------------------------------------------------------------------------- for the pages


def monitored_metric(version: Any) -> str | None:
    """The metric that picked a version's checkpoint (its ``best_<metric>`` key), or None."""
    return next((k[5:] for k in version.metrics if k.startswith("best_") and k != "best_epoch"), None)


def chance_warning(version: Any) -> str:
    """The at-chance warning of a registered version ('' when it learned, or nothing is known):
    its val value (Evaluate's when the train job evaluated it) against ``chance_<metric>``."""
    from studio.training.chance import MARGIN

    metric = monitored_metric(version)
    chance = version.metrics.get(f"chance_{metric}") if metric else None
    value = version.metrics.get(f"eval_{metric}", version.metrics.get(f"best_{metric}")) if metric else None
    if not isinstance(chance, (int, float)) or not isinstance(value, (int, float)):
        return ""
    level = ChanceLevel(metric, float(value), float(chance), chance + MARGIN * (1 - chance), "see the training job")  # type: ignore[arg-type]
    return level.message().replace(" (chance ", " (chance level ").replace(": see the training job)", ")")


def train_vs_eval_note(version: Any, evaluation: Any | None = None) -> str:
    """Why the version's training-time best value and Evaluate's value of ``evaluation`` (an
    EvaluationSummary / EvaluationView on val, or None: the one the train job wrote) differ; ''
    when there is nothing to compare."""
    metric = monitored_metric(version)
    if metric is None:
        return ""
    trained = version.metrics.get(f"best_{metric}")
    key = eval_key(metric)
    if evaluation is not None:
        value = evaluation.summary.get(key) if evaluation.split == "val" else None
        where = f"evaluation #{evaluation.id}"
    else:
        value, where = version.metrics.get(f"eval_{metric}"), f"evaluation #{version.metrics.get('evaluation_id')}"
    if not isinstance(trained, (int, float)) or not isinstance(value, (int, float)):
        return ""
    size = (version.config or {}).get("image_size")
    delta = float(value) - float(trained)
    head = (f"{monitored_label(metric)} {trained:.3f} is the training-time value; {where} scores the same weights "
            f"on val at {value:.3f} ({delta:+.3f}).")
    if abs(delta) < 5e-4:
        return head.replace(f" ({delta:+.3f}).", ": the same.")
    if version.task == "semantic":
        side = f"a {size} px square" if size else "a square"
        return (f"{head} Training scores each val image fitted into {side} padded with black (labels resized "
                "to it); Evaluate predicts as Live does: the longer side resized, padded only to a multiple "
                "of 32 with the mean colour, predictions scored at the image's full size. The black padding is "
                "input the network never sees in use, so Evaluate's value is the one to trust.")
    if version.task == "instance":
        return (f"{head} Training reports ultralytics' mask mAP at its letterbox size; Evaluate computes COCO "
                "mask AP (pycocotools) against the full-size masks.")
    return (f"{head} Both score the same val samples the same way; the difference is numeric (mixed "
            "precision during training on a GPU).")


__all__ = ["Readout", "chance_warning", "eval_key", "monitored_metric", "read_out", "train_vs_eval_note"]
