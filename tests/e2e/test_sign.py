"""Real browser, fake webcam, Sign language page: a random frame-CNN + GRU version (raw frames, no
MediaPipe landmarker) recognises live and lists its top-3 signs and category beside the video; a
keypoint version without the landmarker's .task files gets the "studio pull mediapipe" message."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import studio_env_vars
from tests.e2e.conftest import LiveStudio, fake_camera_page, running_studio

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GLOSSES = ("hello", "thanks", "yes")
CATEGORIES = ("greeting", "answer")

# Run in a subprocess with the studio's environment before the app starts: migrate, then register two
# random-initialised sequence versions (as tests/live/test_sign.py builds its frame-CNN version).
REGISTER = f"""
import json, sys
from pathlib import Path
import torch
from studio import registry
from studio.db import migrate
from studio.nets import create_model, preprocessing

migrate()
root = Path(sys.argv[1])
classes = [{{"name": g, "index": i, "color": None}} for i, g in enumerate({GLOSSES!r})]
torch.manual_seed(0)
clip_kwargs = {{"channels": [8, 16, 16], "hidden_dim": 16, "num_categories": 2}}
model = create_model("frame_cnn_gru", num_classes=3, backbone=None, **clip_kwargs)
path = registry.save_checkpoint(root / "clip.pt", model=model.state_dict())
clip = registry.register_model(
    task="sequence", architecture="frame_cnn_gru", backbone="", classes=classes, dataset="clips",
    files={{"best": path}}, preprocessing={{**preprocessing("frame_cnn_gru"), "image_size": 32, "sequence_length": 6}},
    config={{"model_kwargs": clip_kwargs, "categories": {list(CATEGORIES)!r}}})
gru_kwargs = {{"input_dim": 126, "hidden_dim": 16, "num_layers": 1}}
model = create_model("sign_gru", num_classes=3, backbone=None, **gru_kwargs)
path = registry.save_checkpoint(root / "gru.pt", model=model.state_dict())
keypoints = registry.register_model(
    task="sequence", architecture="sign_gru", backbone="", classes=classes, dataset="gestures",
    files={{"best": path}},
    preprocessing={{**preprocessing("sign_gru"), "keypoint_layout": "hands126", "dim": 126, "sequence_length": 16}},
    config={{"model_kwargs": gru_kwargs}})
print(json.dumps({{"clip": clip.name, "keypoints": keypoints.name}}))
"""


@pytest.fixture(scope="module")
def sign_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveStudio, dict[str, str]]]:
    root = tmp_path_factory.mktemp("sign-e2e")
    env = {**os.environ, **studio_env_vars(root)}
    done = subprocess.run([sys.executable, "-c", REGISTER, str(root)], env=env, cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    with running_studio(root) as studio:
        yield studio, versions


@pytest.fixture(scope="module")
def camera_page(sign_studio, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    with fake_camera_page(tmp_path_factory.mktemp("cam"), timeout_ms=30_000) as page:
        yield page


def _choose_version(page, name: str) -> None:  # noqa: ANN001
    box = page.get_by_test_id("stSelectbox").filter(has_text="Sign model version")
    box.click()
    page.get_by_role("option", name=name, exact=True).click()
    page.get_by_role("listbox").wait_for(state="detached")


def test_sign_page_recognises_with_a_frame_cnn_and_names_the_missing_landmarker(sign_studio, camera_page) -> None:  # noqa: ANN001
    studio, versions = sign_studio
    page = camera_page
    page.goto(f"{studio.url}/sign")
    try:
        page.get_by_role("heading", name="Sign language").wait_for()

        # a keypoint version: the landmarker's .task file is missing -> where it goes and the command
        _choose_version(page, versions["keypoints"])
        error = page.get_by_test_id("stAlertContentError").filter(has_text="hand_landmarker.task")
        error.wait_for()
        expected = Path(studio.env["STUDIO_MODELS_DIR"]) / "mediapipe" / "hand_landmarker.task"
        text = error.inner_text()
        assert str(expected) in text and "studio pull mediapipe" in text, text
        assert page.get_by_test_id("stCode").filter(has_text="studio pull mediapipe").count() == 1
        assert page.locator("iframe[title*='webrtc']").count() == 0  # the page stops there

        # the frame-CNN version needs no landmarker: the camera runs and the fragment lists top-3 + category
        _choose_version(page, versions["clip"])
        page.get_by_text("no landmarker needed").wait_for()
        error.wait_for(state="detached")  # the keypoint version's message goes once the rerun is done
        webrtc = page.frame_locator("iframe[title*='webrtc']")
        webrtc.get_by_role("button", name=re.compile("start", re.I)).click()
        webrtc.locator("video").wait_for()
        page.wait_for_function(
            "() => { const f = [...document.querySelectorAll('iframe')].find(i => (i.title || '').includes('webrtc'));"
            " const v = f && f.contentDocument && f.contentDocument.querySelector('video');"
            " return v && v.videoWidth > 0 && v.currentTime > 0.5; }", timeout=45_000)
        pattern = "^(" + "|".join(GLOSSES) + r") (\d+)%$"
        page.wait_for_function(
            "([pattern]) => [...document.querySelectorAll('[data-testid=stProgress]')]"
            ".filter(p => new RegExp(pattern).test(p.innerText.trim())).length === 3", arg=[pattern], timeout=30_000)
        for _ in range(20):  # one consistent snapshot (the fragment redraws the bars one by one)
            texts = [t.strip() for t in page.get_by_test_id("stProgress").all_inner_texts()]
            found = [re.match(pattern, t) for t in texts]
            percents = [int(m.group(2)) for m in found if m]
            if (len(percents) == 3 and sorted(m.group(1) for m in found) == sorted(GLOSSES)
                    and percents == sorted(percents, reverse=True) and 98 <= sum(percents) <= 102):
                break  # three glosses, best first, probabilities that sum to 1
            page.wait_for_timeout(100)
        else:
            pytest.fail(f"no consistent top-3 beside the video: {texts}")
        category = page.get_by_test_id("stMetric").filter(has_text="Category")
        value = category.get_by_test_id("stMetricValue").inner_text()
        assert re.fullmatch(r"(" + "|".join(CATEGORIES) + r") \d+%", value.strip()), value
        assert page.get_by_text(re.compile(r"\d+\.\d FPS")).count() >= 1
        assert page.get_by_test_id("stAlertContentError").count() == 0
    finally:
        page.screenshot(path=str(Path(studio.root) / "sign.png"), full_page=True)
