"""Job kinds of the segment feature (``embed``: precompute a dataset's image embeddings)."""

from __future__ import annotations
