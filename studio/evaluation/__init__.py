"""Evaluation metrics: pure functions on arrays and dicts (no database, no models).

- ``metrics``: semantic segmentation: confusion matrices (pooled and per image), IoU / Dice /
  precision / recall per class, mIoU, pixel accuracy, per-image scores and click-through.
- ``classification``: accuracy, macro / weighted F1, per-class precision / recall / F1, top-k.
- ``coco_ap``: instance-segmentation mask AP (pycocotools COCOeval, segm).
"""

from studio.evaluation.classification import ClassificationMetrics, classification_metrics, top_k_accuracy
from studio.evaluation.coco_ap import (
    MaskAPResult,
    PredictedInstance,
    coco_inputs_from_records,
    coco_mask_ap,
    coco_mask_eval,
)
from studio.evaluation.metrics import (
    IGNORE_INDEX,
    ConfusionAccumulator,
    SegmentationMetrics,
    confusion_matrix,
    confusion_pairs,
    per_image_score,
    per_image_scores,
    resize_prediction,
    segmentation_metrics,
    worst_first,
)

__all__ = [
    "IGNORE_INDEX", "ClassificationMetrics", "ConfusionAccumulator", "MaskAPResult", "PredictedInstance",
    "SegmentationMetrics", "classification_metrics", "coco_inputs_from_records", "coco_mask_ap", "coco_mask_eval",
    "confusion_matrix", "confusion_pairs", "per_image_score", "per_image_scores", "resize_prediction",
    "segmentation_metrics", "top_k_accuracy", "worst_first",
]
