"""The worker tests use tests/conftest.py's ``studio_env`` and ``start_worker`` fixtures
(real worker processes on an isolated studio); ``WorkerFactory`` is re-exported for hints."""

from tests.conftest import WorkerFactory

__all__ = ["WorkerFactory"]
