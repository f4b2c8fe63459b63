"""Live pipeline speed: camera frames through one and two models, and the sign classifier per window.

    python benchmarks/live.py [--quick] [--seconds 5] [--fps 30] [--model-size 256] [--device cpu|cuda]

1. Pipeline: a moving shelf scene (``studio.live.video.moving_scene_frames``, 640 x 480) is offered to
   ``studio.live.pipeline.LivePipeline`` at a camera rate of ``--fps`` for ``--seconds`` (``--quick``:
   2 s), through one and then two UNet-resnet18 versions (random init: speed does not depend on the
   weights; registered with ``image_size`` = ``--model-size``, the longest side the predictor resizes
   frames to, as a trained version would be). Printed: output FPS (frames shown per second), frames
   dropped (replaced while the models were busy: the pipeline never queues), per-model latency mean /
   p95, and the age of a frame when its result is ready (waiting + all models) mean / p95.
   Two models run one after the other ("2 x ... in turn") and concurrently ("2 x ... together":
   a thread per model, a CUDA stream per model on CUDA; ``LivePipeline(concurrent=True)``); on
   CUDA the models are also run compiled (``studio.inference.compiled``, warmed up first).
2. Sign classifier: SignTransformer and SignGRU (default sizes, 100 glosses + 3 categories) on one
   window of 32 frames x 156 values (hands_pose156): the network per window (torch, eval, batch 1),
   and ``SignRecognizer.feed`` per camera frame (window, resampling, smoothing; a prediction every
   frame). MediaPipe's landmarker is timed per 640 x 480 frame when its .task files are present.

CPU rows always; CUDA rows when torch sees a GPU ("not measured: no device lent" otherwise). The
studio used is a throw-away folder, never your database. ``pipeline_rows`` gives the two-model
rows as dicts for ``benchmarks/gpu.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throwaway import throwaway_studio  # noqa: E402

WIDTH, HEIGHT = 640, 480


def register_unet(root: Path, size: int, seed: int) -> Any:
    """A random-init UNet-resnet18 version (5 classes) that predicts at ``size`` (longest side)."""
    import torch

    from studio import registry
    from studio.nets import create_model, preprocessing

    classes = [{"name": f"class{k}", "index": k, "color": None} for k in range(1, 6)]
    torch.manual_seed(seed)
    model = create_model("unet", num_classes=6, backbone="resnet18")
    path = registry.save_checkpoint(root / f"unet{seed}.pt", model=model.state_dict())
    return registry.register_model(task="semantic", architecture="unet", backbone="resnet18", classes=classes,
                                   dataset="bench", files={"best": path}, config={"model_kwargs": {}},
                                   preprocessing={**preprocessing("unet", "resnet18"), "image_size": size})


def register_sign(root: Path, architecture: str) -> Any:
    """A random-init keypoint sequence version (156 values per frame, window 32, 100 glosses, 3 categories)."""
    import torch

    from studio import registry
    from studio.keypoints.layout import HANDS_POSE156
    from studio.nets import create_model, preprocessing

    kwargs = {"input_dim": 156, "num_categories": 3}
    torch.manual_seed(0)
    model = create_model(architecture, num_classes=100, backbone=None, **kwargs)
    path = registry.save_checkpoint(root / f"{architecture}.pt", model=model.state_dict())
    prep = {**preprocessing(architecture), "layout": HANDS_POSE156.name, "dim": 156, "sequence_length": 32,
            "keypoint_layout": HANDS_POSE156.to_dict()}
    return registry.register_model(task="sequence", architecture=architecture, backbone="", dataset="bench",
                                   classes=[{"name": f"sign{k}", "index": k} for k in range(100)],
                                   files={"best": path}, preprocessing=prep,
                                   config={"model_kwargs": kwargs, "categories": ["a", "b", "c"]})


def _ms(values: list[float]) -> str:
    if not values:
        return f"{'-':>7} {'-':>7}"
    return f"{np.mean(values):7.1f} {np.percentile(values, 95):7.1f}"


def pipeline_run(refs: list[str], device: str, frames: list[np.ndarray], fps: float, *,
                 concurrent: bool = False, compile: bool | None = False) -> dict[str, Any]:
    """Feed ``frames`` at ``fps`` through a pipeline of ``refs`` (models in turn, or
    ``concurrent``; ``compile``: the compiled runtime, warmed up first); the figures."""
    from studio.live.pipeline import LivePipeline
    from studio.live.session import model_slot

    submitted: dict[int, float] = {}
    latencies: list[list[float]] = [[] for _ in refs]
    ages: list[float] = []
    slots = []
    for k, ref in enumerate(refs):
        slot = model_slot(ref, device=device, label=f"{'AB'[k]}" if len(refs) > 1 else "A", compile=compile)

        def timed(frame: np.ndarray, infer: Any = slot.infer, k: int = k) -> Any:
            start = time.perf_counter()
            out = infer(frame)
            end = time.perf_counter()
            latencies[k].append((end - start) * 1000)
            if k == len(refs) - 1 and id(frame) in submitted:
                ages.append((end - submitted[id(frame)]) * 1000)
            return out

        slot.infer = timed
        slots.append(slot)
    for slot in slots:  # warm up outside the timed run (first call allocates; compiled: compiles)
        slot.infer(frames[0])
        slot.infer(frames[0])
    for d in latencies:
        d.clear()
    ages.clear()
    pipeline = LivePipeline(slots, concurrent=concurrent).start()
    period = 1.0 / fps
    start = time.perf_counter()
    try:
        for i, frame in enumerate(frames):
            delay = start + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            submitted[id(frame)] = time.perf_counter()
            pipeline.process(frame)
        elapsed = time.perf_counter() - start
        stats = pipeline.stats()
    finally:
        pipeline.stop()
    return {"frames_in": stats.frames_in, "frames_done": stats.frames_done, "frames_dropped": stats.frames_dropped,
            "output_fps": stats.frames_done / elapsed, "latency_ms": latencies, "age_ms": ages, "seconds": elapsed}


def pipeline_rows(refs: list[str], device: str, frames: list[np.ndarray], fps: float,
                  compile: bool | None = None) -> list[dict[str, Any]]:
    """The two-model rows (in turn, together) as dicts: output FPS and frame age."""
    rows = []
    for concurrent in (False, True):
        r = pipeline_run(refs, device, frames, fps, concurrent=concurrent, compile=compile)
        rows.append({"concurrent": concurrent, "device": device, "output_fps": r["output_fps"],
                     "age_ms": float(np.mean(r["age_ms"])) if r["age_ms"] else None,
                     "latency_ms": [float(np.mean(v)) if v else None for v in r["latency_ms"]],
                     "frames_in": r["frames_in"], "frames_done": r["frames_done"]})
    return rows


def sign_latency(ref: str, device: str, iters: int) -> tuple[list[float], list[float]]:
    """(network ms per 32-frame window, SignRecognizer.feed ms per frame)."""
    import torch

    from studio.inference import load_predictor
    from studio.live.sign import recognizer_for

    predictor = load_predictor(ref, device=device)
    rng = np.random.default_rng(0)
    window = rng.standard_normal((1, 32, 156)).astype(np.float32)
    x = torch.from_numpy(window)
    for _ in range(3):
        predictor.run_network(x)
    network = []
    for _ in range(iters):
        start = time.perf_counter()
        predictor.run_network(x)
        predictor.synchronize()
        network.append((time.perf_counter() - start) * 1000)
    recognizer = recognizer_for(ref, device=device, stride=1)
    vectors = rng.standard_normal((32 + iters, 156)).astype(np.float32)
    feed = []
    for k, v in enumerate(vectors):
        start = time.perf_counter()
        recognizer.feed(v)
        if k >= 32:
            feed.append((time.perf_counter() - start) * 1000)
    return network, feed


def landmarker_latency(frames: list[np.ndarray]) -> str:
    from studio.errors import StudioError
    from studio.live.landmarks import Landmarker, mediapipe_dir, missing_landmarker_files

    missing = missing_landmarker_files("hands_pose156", Path(os.environ.get("MEDIAPIPE_DIR", mediapipe_dir())))
    if missing:
        return f"not measured: no {', '.join(p.name for p in missing)} (`studio pull mediapipe`)"
    try:
        with Landmarker("hands_pose156", Path(os.environ.get("MEDIAPIPE_DIR", mediapipe_dir()))) as landmarker:
            times = []
            for frame in frames:
                start = time.perf_counter()
                landmarker.detect(frame)
                times.append((time.perf_counter() - start) * 1000)
        return f"{_ms(times[3:])}  (hands + pose, per {WIDTH}x{HEIGHT} frame)"
    except StudioError as exc:
        return f"not measured: {exc}"


def run(quick: bool = False, seconds: float = 5.0, fps: float = 30.0, model_size: int = 256,
        iters: int = 100, device: str | None = None) -> dict[str, Any]:
    if quick:
        seconds, iters = 2.0, 30
    mediapipe_dir = os.environ.get("MEDIAPIPE_DIR") or str(Path(os.environ.get("STUDIO_MODELS_DIR", "models"))
                                                             .resolve() / "mediapipe")
    os.environ["MEDIAPIPE_DIR"] = mediapipe_dir  # the user's landmarker files, before the throw-away studio
    root = throwaway_studio("studio-bench-live-")
    import torch

    from studio.live.video import moving_scene_frames

    frames = list(moving_scene_frames(int(seconds * fps), WIDTH, HEIGHT))
    unets = [register_unet(root, model_size, seed).name for seed in (0, 1)]
    devices = [device] if device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores ({torch.get_num_threads()} threads); camera "
          f"{WIDTH}x{HEIGHT} at {fps:g} FPS for {seconds:g} s ({len(frames)} frames); UNet-resnet18 random init "
          f"predicting at {model_size} px (longest side)")
    header = (f"{'pipeline':22} {'device':6} {'in':>5} {'shown':>6} {'dropped':>8} {'out FPS':>8} "
              f"{'model':>6} {'mean ms':>7} {'p95 ms':>7}   {'frame age mean/p95 ms':>22}")
    print(header)
    print("-" * len(header))
    results: dict[str, Any] = {"pipeline": [], "sign": []}
    runs = [(1, False, False), (2, False, False), (2, True, False)]  # (models, concurrent, compiled)
    for dev in devices:
        for count, concurrent, compiled in runs + ([(1, False, True), (2, False, True), (2, True, True)]
                                                   if dev == "cuda" else []):
            r = pipeline_run(unets[:count], dev, frames, fps, concurrent=concurrent, compile=compiled)
            results["pipeline"].append({"models": count, "device": dev, "concurrent": concurrent,
                                        "compiled": compiled, **r})
            name = f"{count} x UNet-r18" + ("" if count == 1 else " together" if concurrent else " in turn") \
                + (" comp." if compiled else "")
            for k, lat in enumerate(r["latency_ms"]):
                lead = (f"{name:22} {dev:6} {r['frames_in']:5} {r['frames_done']:6} "
                        f"{r['frames_dropped']:8} {r['output_fps']:8.2f}") if k == 0 else " " * 60
                tail = f"   {_ms(r['age_ms']):>22}" if k == 0 else ""
                print(f"{lead} {'AB'[k]:>6} {_ms(lat)}{tail}", flush=True)
    if "cuda" not in devices:
        for name in ("1 x UNet-r18", "2 x UNet-r18 in turn", "2 x UNet-r18 together", "(compiled rows)"):
            print(f"{name:22} {'cuda':6} not measured: no device lent")
    print()
    header = f"{'sign classifier':18} {'device':6} {'network ms/window mean p95':>27} {'feed ms/frame mean p95':>24}"
    print(header)
    print("-" * len(header))
    for architecture, label in (("sign_transformer", "SignTransformer"), ("sign_gru", "SignGRU")):
        ref = register_sign(root, architecture).name
        for dev in devices:
            network, feed = sign_latency(ref, dev, iters)
            results["sign"].append({"model": label, "device": dev, "network_ms": network, "feed_ms": feed})
            print(f"{label:18} {dev:6} {_ms(network):>27} {_ms(feed):>24}   (window 32 x 156, batch 1)",
                  flush=True)
        from studio.live.placement import fastest_device

        chosen, timings = fastest_device(ref, np.zeros((32, 156), np.float32))
        print(f"{label:18} placed on {chosen}" + (f" (median ms {', '.join(f'{d} {t:.2f}' for d, t in timings.items())})"
                                                  if timings else " (the only device here)"))
        if "cuda" not in devices:
            print(f"{label:18} {'cuda':6} not measured: no device lent")
    landmarks = landmarker_latency(frames[:min(len(frames), 33)])
    print(f"{'MediaPipe landmarker':22} cpu    {landmarks}")
    results["landmarker"] = landmarks
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 s of camera, 30 iterations per sign model")
    parser.add_argument("--seconds", type=float, default=5.0, help="camera run per pipeline")
    parser.add_argument("--fps", type=float, default=30.0, help="camera frame rate")
    parser.add_argument("--model-size", type=int, default=256, help="UNet input: longest side in pixels")
    parser.add_argument("--iters", type=int, default=100, help="timed windows / frames per sign model")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: both where present)")
    args = parser.parse_args()
    run(args.quick, args.seconds, args.fps, args.model_size, args.iters, args.device)


if __name__ == "__main__":
    main()
