"""Data jobs: ``import`` (a dataset in) and ``export`` (a dataset or one of its versions out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from studio.datasets import IngestReport
from studio.formats.records import ExportReport
from studio.jobs.context import JobContext
from studio.jobs.spec import JobSpec, job_kind


@job_kind
@dataclass(frozen=True, kw_only=True)
class ImportSpec(JobSpec[IngestReport]):
    """Import ``source`` (folder, file or archive) of ``format`` into ``dataset`` (created if needed)."""

    kind: ClassVar[str] = "import"
    result_type: ClassVar[type] = IngestReport

    format: Literal["images", "coco", "yolo", "masks"]
    source: Path  # absolute (the worker may run elsewhere: prepare() resolves it)
    dataset: str
    link: bool = False  # keep images where they are instead of copying them into the store
    split: str | None = None  # put every image in this split
    classes: tuple[str, ...] = ()  # class names to create (a folder of images has none)

    def prepare(self) -> ImportSpec:
        import dataclasses

        from studio.errors import NotFound

        if not self.source.exists():
            raise NotFound(f"{self.source}: no such file or folder to import")
        return dataclasses.replace(self, source=self.source.resolve())

    def run(self, ctx: JobContext) -> IngestReport:
        from studio.transfer import import_dataset

        return import_dataset(fmt=self.format, source=self.source, dataset=self.dataset, link=self.link,
                              split=self.split, classes=list(self.classes), progress=ctx.progress)

    def describe(self) -> str:
        return f"import {self.format} {self.source.name} into {self.dataset}"


@job_kind
@dataclass(frozen=True, kw_only=True)
class ExportSpec(JobSpec[ExportReport]):
    """Export ``dataset`` (or its version ``version``) as ``format`` to ``out``, read back and checked."""

    kind: ClassVar[str] = "export"
    result_type: ClassVar[type] = ExportReport

    format: Literal["coco", "yolo", "masks"]
    dataset: str
    out: Path
    mode: Literal["rle", "polygon"] = "rle"  # COCO only: polygons keep masks with holes as RLE
    version: int | None = None  # a dataset version (snapshot) instead of the live dataset
    force: bool = False  # replace an existing output

    def prepare(self) -> ExportSpec:
        import dataclasses

        from studio.formats._files import refuse_existing

        refuse_existing(self.out, self.force)  # before anything is queued: one clear line
        return dataclasses.replace(self, out=self.out.resolve())

    def run(self, ctx: JobContext) -> ExportReport:
        from studio.transfer import export_dataset

        return export_dataset(fmt=self.format, dataset=self.dataset, out=self.out, mode=self.mode,
                              version=self.version, force=self.force, progress=ctx.progress)

    def describe(self) -> str:
        from studio.naming import data_version

        return f"export {data_version(self.dataset, self.version or None)} as {self.format}"
