"""Job kinds as typed specs: one frozen dataclass per kind, validated, with a typed result.

A spec says *what* to do (its fields) and *how* (``run``, whose heavy imports stay inside the
method, so the UI process can build and queue specs cheaply)::

    @job_kind
    @dataclass(frozen=True, kw_only=True)
    class SleepSpec(JobSpec[SleepResult]):
        kind: ClassVar[str] = "sleep"
        result_type: ClassVar[type] = SleepResult
        seconds: float = 1.0

        def run(self, ctx: JobContext) -> SleepResult: ...

    job_id = enqueue(SleepSpec(seconds=2))          # studio.jobs: row + queue message
    spec = load_spec(job.kind, job.params)          # the worker: typed again, validated again

Fields are JSON across the queue: ``to_params`` writes str / int / float / bool / None /
lists / dicts (``Path`` as str, nested types with ``to_dict``); ``from_params`` converts them
back by the field annotations and refuses unknown or missing fields with the name of what
was expected. ``validate`` (run on every construction) checks values; ``prepare`` runs once
in the process that queues the job (or runs it here) before anything is stored: the one
place where, for instance, training fixes the dataset version it will read.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, Union

from studio.errors import InvalidInput

if typing.TYPE_CHECKING:
    from studio.jobs.context import JobContext

R = TypeVar("R")
S = TypeVar("S", bound="JobSpec")

Resources = Literal["cpu", "gpu"]  # which kind of worker a job wants (routing; see studio.jobs.queue)

_KINDS: dict[str, type[JobSpec]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobSpec(Generic[R]):
    """Base of every job kind (see the module docstring). Subclasses set ``kind`` and
    ``result_type`` and implement ``run``."""

    kind: ClassVar[str] = ""
    result_type: ClassVar[type] = dict
    resources: ClassVar[Resources] = "cpu"  # "gpu": prefers a GPU worker (model work)
    priority: ClassVar[int] = 0  # higher runs first where the queue supports priorities
    stops_cooperatively: ClassVar[bool] = False  # run() checks ctx.should_stop(); else a cancel kills it

    def __post_init__(self) -> None:
        self.validate()

    # -- what subclasses provide -------------------------------------------------------------
    def validate(self) -> None:
        """InvalidInput naming the field, the value and what was expected (default: nothing)."""

    def prepare(self: S) -> S:
        """Run once where the job is queued (or run here), before it is stored; returns the
        spec to store (default: itself). Must be idempotent: a retried job is prepared again."""
        return self

    def run(self, ctx: JobContext) -> R:
        """Do the work, reporting through ``ctx``; the typed result."""
        raise NotImplementedError(f"{type(self).__name__} has no run()")

    def describe(self) -> str:
        """One line for people ("train unet on shelves v3")."""
        return self.kind

    def lane(self) -> str:
        """The queue lane this job waits in (``studio.jobs.queue.LANES``; default: ``resources``)."""
        return self.resources

    def queue_priority(self) -> int:
        """Where this job stands in its lane: higher runs first (default: the kind's ``priority``)."""
        return self.priority

    # -- JSON across the queue ---------------------------------------------------------------
    def to_params(self) -> dict[str, Any]:
        """The fields as JSON-ready values (what the job row stores)."""
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_params(cls: type[S], params: Any) -> S:
        """The spec from stored ``params``; InvalidInput for unknown, missing or mistyped fields."""
        return from_fields(cls, params, f"{cls.kind} job")

    @classmethod
    def result_from_json(cls, data: Any) -> R:
        """The typed result from a job's stored ``result`` column."""
        return from_json(cls.result_type, data, f"{cls.kind} result")  # type: ignore[return-value]


def job_kind(cls: type[S]) -> type[S]:
    """Class decorator: register a spec class under its ``kind`` (unique)."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} sets no kind")
    other = _KINDS.get(cls.kind)
    if other is not None and other.__qualname__ != cls.__qualname__:
        raise TypeError(f"job kind {cls.kind!r} is already registered by {other.__qualname__}")
    _KINDS[cls.kind] = cls
    return cls


def _load_kinds() -> None:
    import studio.jobs.kinds  # noqa: F401  (importing the package registers every kind)


def known_kinds() -> list[str]:
    """The registered kind names, sorted."""
    _load_kinds()
    return sorted(_KINDS)


def spec_class(kind: str) -> type[JobSpec]:
    """The spec class of ``kind``; InvalidInput naming the known kinds."""
    _load_kinds()
    try:
        return _KINDS[kind]
    except KeyError:
        raise InvalidInput(f"unknown job kind {kind!r}; expected one of: {', '.join(sorted(_KINDS))}") from None


def load_spec(kind: str, params: Any) -> JobSpec:
    """A stored job's spec, typed and validated again."""
    return spec_class(kind).from_params(params)


# ---- conversion ------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A field value as JSON: Paths as str, tuples as lists, dataclasses (``to_dict`` or
    their fields) as dicts."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return to_json(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_fields(cls: type, data: Any, where: str) -> Any:
    """``cls`` (a dataclass) built from a JSON mapping, every field converted by its annotation."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        hints_text = [f"{u} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(u, fields, 1)) else u
                      for u in unknown]
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(hints_text)}; expected some of {', '.join(fields)}")
    missing = [name for name, f in fields.items() if name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise InvalidInput(f"{where}: missing field(s) {', '.join(missing)}")
    values = {name: from_json(hints[name], value, f"{where} field {name}") for name, value in data.items()}
    return cls(**values)


def from_json(annotation: Any, value: Any, where: str) -> Any:
    """``value`` (JSON) converted to ``annotation``: str, int, float, bool, None, Path,
    Literal, X | None, list[X], tuple[X, ...], tuple[X, Y], dict, Any, dataclasses (or types
    with ``from_dict``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return from_json(option, value, where)
            except InvalidInput as exc:
                errors.append(str(exc).rsplit(": ", 1)[-1])
        raise InvalidInput(f"{where}: {value!r}; expected {_name(annotation)}")
    if origin is Literal:
        if value not in args:
            raise InvalidInput(f"{where}: {value!r}; expected one of {', '.join(map(repr, args))}")
        return value
    if annotation is type(None):
        if value is not None:
            raise InvalidInput(f"{where}: {value!r}; expected null")
        return None
    if annotation is bool:
        if not isinstance(value, bool):
            raise InvalidInput(f"{where}: {value!r}; expected true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise InvalidInput(f"{where}: {value!r}; expected an integer")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"{where}: {value!r}; expected a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: {value!r}; expected a string")
        return value
    if annotation is Path:
        if not isinstance(value, (str, Path)) or not str(value):
            raise InvalidInput(f"{where}: {value!r}; expected a file or folder path")
        return Path(value)
    if origin in (list, tuple) or annotation in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InvalidInput(f"{where}: {value!r}; expected a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise InvalidInput(f"{where}: {value!r}; expected {len(args)} values")
            return tuple(from_json(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [from_json(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or annotation is tuple else items
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise InvalidInput(f"{where}: {value!r}; expected a mapping")
        item = args[1] if len(args) == 2 else Any
        return {str(k): from_json(item, v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(annotation, type) and hasattr(annotation, "from_dict"):
        return value if isinstance(value, annotation) else annotation.from_dict(value)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return value if isinstance(value, annotation) else from_fields(annotation, value, where)
    raise TypeError(f"{where}: no JSON conversion for {annotation!r}")


def _name(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return " or ".join(_name(a) for a in args)
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


__all__ = ["JobSpec", "Resources", "from_fields", "from_json", "job_kind", "known_kinds", "load_spec", "spec_class",
           "to_json"]
