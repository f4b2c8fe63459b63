"""Job kinds of model operations: evaluate, prelabel, export, bench."""

from __future__ import annotations
