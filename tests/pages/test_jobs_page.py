"""Jobs page (AppTest): shows queued work with progress, and cancels it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from studio.jobs import enqueue, get_job
from studio.jobs.kinds import SleepSpec
from tests.pages.conftest import APP


def test_a_queued_job_is_shown_and_can_be_cancelled(demo_studio: dict[str, str]) -> None:
    job_id = enqueue(SleepSpec(seconds=5, steps=5))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/jobs.py")
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Jobs"
    assert any(job_id[:8] in m.value for m in at.markdown)
    cancel_button = next(b for b in at.button if b.key == f"cancel-{job_id}")
    cancel_button.click()
    at.run()
    assert get_job(job_id).status == "cancelled"


def test_empty_board_says_what_will_appear(studio_env: dict[str, str]) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/jobs.py")
    at.run()
    assert not at.exception, at.exception
    assert any("No jobs yet" in i.value for i in at.info)
