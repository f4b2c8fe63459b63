"""Keypoint sequences (sign language): layouts, datasets on disk, importers, synthetic signs.

- :mod:`studio.keypoints.layout`: which landmarks a (D,) frame vector holds and how they are
  normalised (presets ``hands126`` and ``hands_pose156``), resampling and padding.
- :mod:`studio.keypoints.dataset`: content-addressed clips, a live manifest and immutable
  versions under ``<data_dir>/keypoints/<name>/`` (training reads versions).
- :mod:`studio.keypoints.importers`: MediaPipe keypoint / point-history CSVs, one file per clip.
- :mod:`studio.keypoints.synthetic`: learnable synthetic signs for tests, the demo and benchmarks.
"""

from __future__ import annotations

from studio.keypoints.dataset import (AddReport, Clip, KeypointDatasetSummary, KeypointVersion, add_clip, add_clips,
                                      create_keypoint_dataset, declare_classes, list_keypoint_datasets, list_versions,
                                      load_manifest, load_version, snapshot, version_info)
from studio.keypoints.layout import (HANDS126, HANDS_POSE156, PRESETS, KeypointLayout, Landmark, frame_vector,
                                     get_layout, layout_for_dim, pad_batch, resample)

__all__ = ["AddReport", "Clip", "HANDS126", "HANDS_POSE156", "KeypointDatasetSummary", "KeypointLayout",
           "KeypointVersion", "Landmark", "PRESETS", "add_clip", "add_clips", "create_keypoint_dataset",
           "declare_classes", "frame_vector", "get_layout", "layout_for_dim", "list_keypoint_datasets",
           "list_versions", "load_manifest", "load_version", "pad_batch", "resample", "snapshot", "version_info"]
