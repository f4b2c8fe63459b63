"""Promptable segmenters (SAM, an OpenCV fallback) behind one interface, and their
embedding cache. See ``studio.segment.base`` for the interface and shapes."""

from studio.segment.base import Embedding, Prediction, Prompt, Segmenter

__all__ = ["Embedding", "Prediction", "Prompt", "Segmenter"]
