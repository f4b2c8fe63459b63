"""``sleep``: a diagnostic job (tests, the UI smoke test): sleeps in steps, reports progress,
and can fail on purpose halfway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.errors import InvalidInput
from studio.jobs.context import JobContext
from studio.jobs.spec import JobSpec, job_kind


@dataclass(frozen=True)
class SleepResult:
    slept: float  # seconds
    steps: int


@job_kind
@dataclass(frozen=True, kw_only=True)
class SleepSpec(JobSpec[SleepResult]):
    kind: ClassVar[str] = "sleep"
    result_type: ClassVar[type] = SleepResult
    stops_cooperatively: ClassVar[bool] = True

    seconds: float = 1.0  # total time asleep
    steps: int = 10  # progress reports (one per step)
    fail: bool = False  # raise an error halfway (tests of failure handling)

    def validate(self) -> None:
        if self.seconds < 0 or self.steps < 1:
            raise InvalidInput(f"sleep job: expected seconds >= 0 and steps >= 1, got {self.seconds}, {self.steps}")

    def run(self, ctx: JobContext) -> SleepResult:
        for step in range(self.steps):
            if self.fail and step >= self.steps // 2:
                raise RuntimeError(f"failing on purpose at step {step + 1}/{self.steps} (params fail=true)")
            if ctx.stop_event.wait(self.seconds / self.steps):
                raise InterruptedError(f"stopped at step {step + 1}/{self.steps}")
            ctx.progress((step + 1) / self.steps, f"step {step + 1}/{self.steps}")
        return SleepResult(slept=self.seconds, steps=self.steps)

    def describe(self) -> str:
        return f"sleep {self.seconds:g} s"
