"""Evaluate a model version on one split of a dataset version and store the result (the data it
scores: ``studio.evaluation.data``; files: ``.files``; reading back: ``.views``).

``evaluate_version(ref, dataset_version_id=None, split="val")`` predicts every image of the
split with ``studio.inference`` and writes one ``Evaluation`` row with its ``EvaluationClass``
and ``EvaluationImage`` rows in ONE transaction, plus files in
``<model folder>/evaluations/<evaluation id>/``:

    summary_metrics.csv    metric,value
    per_class_metrics.csv  class_index,name,iou,dice,precision,recall,accuracy,f1,support[,ap]
    predictions.csv        per image: file_name,version_image_id,score,pixels,prediction_path
                           (classification: per object crop: file_name,true,pred,prob,correct)
    confusion_matrix.csv   the pooled matrix (rows = ground truth, columns = prediction)
    confusion_matrix.png   row-normalised heatmap (matplotlib)
    predictions/NNNNN.png  predicted class-index map per image (palette PNG, the class colours),
                           so pages overlay predictions without running the model again

The folder is written under a temporary name and renamed inside the transaction; on any
failure neither rows nor folder remain.

Class positions: for segmentation (semantic, and instance rasterised to a semantic map) the
confusion matrix position k is the class whose ``index`` is k (0 = background), as the
model's outputs (``registry.output_names``). Ground truth is the dataset version's accepted
objects painted into a label map (``studio.training.data.label_map``: larger objects first,
crowd regions = 255 = ignored) with dataset class indices re-mapped to the model's by class
NAME; a dataset class the model does not know is refused (InvalidInput naming it).

How each task is scored: ``studio.evaluation.scoring``.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from studio.db import session_scope
from studio.errors import InvalidInput
from studio.evaluation.data import load_sequence_split, load_split
from studio.evaluation.files import CLASS_COLUMNS, color_table, save_label_png, write_evaluation_files
from studio.evaluation.scoring import clean_number, score_classification, score_segmentation, score_sequence
from studio.progress import ProgressFn, null_progress
from studio.tables import Evaluation, EvaluationClass, EvaluationImage, ModelVersion, Task


# --------------------------------------------------------------------------- the job


def evaluations_dir(version: ModelVersion) -> Path:
    from studio.registry import model_dir

    return model_dir(version) / "evaluations"


def _evaluation_of_job(job_id: str) -> int | None:
    from sqlmodel import select

    with session_scope() as session:
        return session.exec(select(Evaluation.id).where(Evaluation.job_id == job_id)).first()


def evaluate_version(ref: str | int | ModelVersion, dataset_version_id: int | None = None, split: str = "val",
                     progress: ProgressFn | None = None, *, runtime: str = "torch", device: str | None = None,
                     save_predictions: bool = True, job_id: str | None = None,
                     keypoint_dataset: str | None = None) -> int:
    """Evaluate the version on ``split`` of ``dataset_version_id`` (default: the dataset
    version it was trained on) and store everything (see the module docstring); the new
    Evaluation's id.

    Sequence models read sequence datasets: ``dataset_version_id`` is then a version NUMBER of
    ``keypoint_dataset`` (default: the dataset and version the model was trained on): a keypoint
    dataset, or for frame_cnn_gru a raw-frame clip dataset (studio.frame_clips).

    InvalidInput: no dataset version given and none recorded on the model, an empty split,
    classes the model does not know.
    """
    from studio.inference import as_version, load_predictor
    from studio.registry import models_root

    progress = progress or null_progress
    if job_id is not None and (done := _evaluation_of_job(job_id)) is not None:
        progress(1.0, f"evaluation {done} was already written by this job")
        return done  # a requeued job whose first attempt wrote it: once only
    started = time.perf_counter()
    version = as_version(ref)
    stored_dv: int | None
    if version.task == Task.sequence.value:
        progress(0.0, f"reading split {split!r} of the sequence dataset")
        clips = load_sequence_split(version, split, dataset_version_id, keypoint_dataset)
        predictor = load_predictor(version, runtime=runtime, device=device)
        result = score_sequence(predictor, clips, lambda f, m: progress(0.02 + 0.93 * f, m))
        result.summary["keypoint_dataset"] = clips.label
        label, stored_dv, count = clips.label, None, len(clips.clips)
    else:
        if keypoint_dataset is not None:
            raise InvalidInput(f"model {version.name} is a {version.task} model; keypoint_dataset applies to "
                               "sequence models only")
        dv_id = dataset_version_id if dataset_version_id is not None else version.dataset_version_id
        if dv_id is None:
            raise InvalidInput(f"model {version.name} records no dataset version; pass one (--dataset-version N)")
        progress(0.0, f"reading split {split!r} of dataset version {dv_id}")
        data = load_split(int(dv_id), split)
        predictor = load_predictor(version, runtime=runtime, device=device)
        if version.task == Task.classification.value:
            result = score_classification(predictor, data, lambda f, m: progress(0.02 + 0.93 * f, m))
        else:
            result = score_segmentation(predictor, data, lambda f, m: progress(0.02 + 0.93 * f, m), save_predictions)
        label, stored_dv, count = data.label, data.dataset_version_id, len(data.items)
    result.summary["ms_per_image"] = float(np.median(result.predict_ms)) if result.predict_ms else None
    progress(0.96, "writing the evaluation")
    root = evaluations_dir(version)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
    final: Path | None = None
    try:
        (tmp / "predictions").mkdir(parents=True)
        with session_scope() as session:
            evaluation = Evaluation(model_version_id=version.id, dataset_version_id=stored_dv,  # type: ignore[arg-type]
                                    split=split, task=version.task, summary=result.summary,
                                    confusion=np.asarray(result.confusion).tolist(), image_count=count,
                                    seconds=0.0, job_id=job_id)
            session.add(evaluation)
            session.flush()
            eval_id = int(evaluation.id)  # type: ignore[arg-type]
            final = root / str(eval_id)
            relative = final.relative_to(models_root()) if final.is_relative_to(models_root()) else final
            for row in result.class_rows:
                session.add(EvaluationClass(evaluation_id=eval_id, **{k: clean_number(row.get(k)) for k in CLASS_COLUMNS}))
            palette = color_table(version, len(result.names))
            image_rows = []
            for n, img in enumerate(result.images):
                png = None
                if img.get("pred_png") is not None:
                    png = f"{n:05d}.png"
                    save_label_png(tmp / "predictions" / png, img["pred_png"], palette)
                image_rows.append(EvaluationImage(
                    evaluation_id=eval_id, version_image_id=img["version_image_id"], file_name=img["file_name"],
                    score=img["score"], confusion=img["confusion"], labels=img.get("labels"),
                    prediction_path=(relative / "predictions" / png).as_posix() if png else None))
            session.add_all(image_rows)
            write_evaluation_files(tmp, version, f"{label} {split}", result, image_rows, eval_id)
            if final.exists():  # an orphan folder of a deleted evaluation whose id came back
                shutil.rmtree(final)
            evaluation.seconds = time.perf_counter() - started
            session.add(evaluation)
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if final is not None:
            shutil.rmtree(final, ignore_errors=True)
        raise
    progress(1.0, f"{label} {split}: " + ", ".join(
        f"{k} {v:.3f}" for k, v in result.summary.items()
        if isinstance(v, float) and k in ("miou", "ap", "accuracy", "category_accuracy")))
    return eval_id
