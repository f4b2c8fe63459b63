"""JSON field readers for the canvas's messages (studio.labelling.protocol): each checks one
field and raises ``InvalidInput`` naming the message (``what``), the field and what was
expected."""

from __future__ import annotations

import math
from typing import Any

from studio.errors import InvalidInput

RLE = dict[str, Any]  # {"size": [h, w], "counts": str}


def fields(what: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` as a dict holding every ``required`` key and nothing outside required + optional."""
    expected = ", ".join([*required, *(f"{k} (optional)" for k in optional)])
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: expected a JSON object with {expected}; got {type(value).__name__}")
    unknown = sorted(str(k) for k in set(value) - set(required) - set(optional))
    if unknown:
        raise InvalidInput(f"{what}: unknown field(s) {', '.join(unknown)}; expected {expected}")
    missing = [k for k in required if k not in value]
    if missing:
        raise InvalidInput(f"{what}: missing field(s) {', '.join(missing)}; expected {expected}")
    return value


def integer(what: str, name: str, value: Any, minimum: int | None = 1) -> int:
    """An integer (JSON numbers like 3.0 are accepted, booleans are not), >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise InvalidInput(f"{what}: {name} must be an integer, got {value!r:.40}")
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{what}: {name} must be >= {minimum}, got {int(value)}")
    return int(value)


def optional_integer(what: str, name: str, value: Any, minimum: int | None = 1) -> int | None:
    return None if value is None else integer(what, name, value, minimum)


def number(what: str, name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    """A finite number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what}: {name} must be a finite number, got {value!r:.40}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInput(f"{what}: {name} must be within [{low}, {high}], got {value}")
    return float(value)


def choice(what: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidInput(f"{what}: {name} must be one of {', '.join(choices)}, got {value!r:.40}")
    return str(value)


def rle(what: str, name: str, value: Any) -> RLE:
    """``{"size": [h, w], "counts": str}`` with h, w >= 1 (the runs are checked on decode)."""
    body = fields(f"{what}: {name}", value, ("size", "counts"))
    size = body["size"]
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
        raise InvalidInput(f"{what}: {name}.size must be [height, width] (positive integers), got {size!r:.40}")
    if not isinstance(body["counts"], str):
        raise InvalidInput(f"{what}: {name}.counts must be a COCO compressed RLE string, "
                           f"got {type(body['counts']).__name__}")
    return {"size": [int(size[0]), int(size[1])], "counts": body["counts"]}


def xy(what: str, name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidInput(f"{what}: {name} must be [x, y], got {value!r:.40}")
    return number(what, f"{name}[0]", value[0]), number(what, f"{name}[1]", value[1])
