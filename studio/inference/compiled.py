"""The compiled torch runtime: ``torch.compile`` per (input shape bucket, dtype), warm-up, cache, fallback.

    runner = CompiledRunner(load_network(version), torch.device("cuda"))
    runner.warm_up([(1, 3, 256, 256)])        # compile now (the UI shows runner.state())
    preds = runner(x)                          # tuple of float32 tensors, like TorchRunner

What it does, by device
-----------------------
- CUDA: weights in bf16 (fp16 for YOLO, whose decoded box coordinates need the finer steps;
  fp16 too where the GPU lacks bf16), cast once: no autocast per call, which costs more than a
  small network's kernels at batch 1; channels_last for image models; ``torch.compile`` with
  CUDA graphs (inductor's ``reduce-overhead``: one graph launch replays every kernel). The
  weights stay graph inputs, so two versions of one architecture share one compiled graph and
  the FX graph cache serves a restart.
- CPU: ``torch.compile`` with weight freezing (oneDNN-packed convolution weights, constants
  folded), fp32, no CUDA graphs. Frozen weights are constants of the graph: inductor's FX graph
  cache skips such graphs, so a restart re-lowers them (its compiled C++ kernels are cached).
  Whether compiling is used on a CPU is ``STUDIO_COMPILE`` (default ``auto`` = CUDA only; the
  CPU figures are in README's Figures).

Shape buckets
-------------
A compiled graph is specialised to one input shape (``dynamic=False``: CUDA graphs need fixed
shapes anyway). So that the live page and evaluation reuse graphs instead of compiling one per
image size, the predictor pads every image input up to a multiple of ``BUCKET_MULTIPLE`` (64)
bottom/right (YOLO: letterboxed to it) and crops the outputs back, exactly as it already pads
to the network's own size multiple. A version trained at ``image_size`` S therefore meets at
most S / 64 shapes per orientation; at most ``max_graphs`` (8) are compiled per model, shapes
beyond that run eagerly (logged once).

Threads and streams
-------------------
Every call runs on the runner's own thread: CUDA graph trees are kept per thread, so a warm-up
started from the UI and the live page's inference both replay the same graphs; on CUDA that
thread has its own stream, so two models called from two threads (the live page's side-by-side
view) run concurrently on the GPU. The caller's stream waits on an event recorded after the
outputs, so the caller can use them at once.

Fallback
--------
A network that does not compile -- data-dependent Python control flow (``fullgraph=True``
refuses graph breaks, which would defeat CUDA graphs), an unsupported operator, a compiler
that is missing -- runs eagerly from then on (same weights, same dtype); the reason is logged
and kept in ``state().reason``.

Cache
-----
``configure_compile_cache()`` points ``TORCHINDUCTOR_CACHE_DIR`` (inductor's FX graph, kernel
and autotuning caches) and ``TRITON_CACHE_DIR`` at ``<data dir>/compile_cache/torch-<version>``
(a user's own ``TORCHINDUCTOR_CACHE_DIR`` is kept), so a restart compiles from the cache
(seconds) rather than from nothing (tens of seconds).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio.errors import InvalidInput
from studio.inference.network import Network

log = logging.getLogger(__name__)

BUCKET_MULTIPLE = 64  # image inputs are padded up to multiples of this (H and W) when compiled
MAX_GRAPHS = 8  # compiled shapes per model; more run eagerly
COMPILE_SETTINGS = ("auto", "on", "off")  # STUDIO_COMPILE: auto = on CUDA only
RECOMPILE_LIMIT = 64  # dynamo's per-function limit (default 8): every model and bucket counts against it

WarmupStatus = Literal["cold", "compiling", "ready", "fallback"]


def should_compile(device: Any, setting: str | bool | None = None) -> bool:
    """Whether the torch runtime compiles on ``device``: ``setting`` (True / False, or
    "auto" | "on" | "off"; None = ``STUDIO_COMPILE``). "auto" compiles on CUDA only: on a CPU
    onnxruntime is the faster runtime and a compile costs tens of seconds per shape (README)."""
    if isinstance(setting, bool):
        return setting
    if setting is None:
        from studio.config import get_settings

        setting = get_settings().compile
    value = str(setting).strip().lower()
    if value not in COMPILE_SETTINGS:
        raise InvalidInput(f"compile setting {setting!r}: expected one of {', '.join(COMPILE_SETTINGS)}")
    if value == "auto":
        return getattr(device, "type", str(device)) == "cuda"
    return value == "on"


# --------------------------------------------------------------------------- the cache


def compile_cache_dir() -> Path:
    """``<data dir>/compile_cache/torch-<torch version>`` (compiled code is only valid for the
    torch that wrote it)."""
    import torch

    from studio.config import get_settings

    version = torch.__version__.split("+")[0]
    return get_settings().data_dir / "compile_cache" / f"torch-{version}"


def configure_compile_cache() -> Path:
    """Point inductor's and Triton's caches under the data dir (unless the user set
    ``TORCHINDUCTOR_CACHE_DIR`` to a folder of their own) and make sure the FX graph cache
    is on; raises dynamo's recompile limit to ``RECOMPILE_LIMIT``. Returns the inductor
    cache folder in use. Call before the first compile of the process (``CompiledRunner``
    does)."""
    import torch
    import torch._dynamo
    import torch._inductor.config as inductor_config

    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # older torch: the same default
        import getpass
        import tempfile

        def default_cache_dir() -> str:
            return os.path.join(tempfile.gettempdir(), "torchinductor_" + getpass.getuser())

    ours = compile_cache_dir()
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    user_chose = current is not None and Path(current) != Path(default_cache_dir()) \
        and not Path(current).is_relative_to(ours.parent)
    folder = Path(current) if user_chose else ours
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    if not user_chose or "TRITON_CACHE_DIR" not in os.environ:
        os.environ["TRITON_CACHE_DIR"] = str(folder / "triton")
    inductor_config.fx_graph_cache = True
    name = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    setattr(torch._dynamo.config, name, max(int(getattr(torch._dynamo.config, name)), RECOMPILE_LIMIT))
    return folder


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class WarmupState:
    """What a compiled runner has done so far (for pages and logs).

    status: "cold" (nothing compiled yet) | "compiling" | "ready" (every shape asked for is
    compiled) | "fallback" (runs eagerly: ``reason`` says why); shapes: the compiled input
    shapes; current: the shape being compiled; done / total: shapes of the running warm-up;
    seconds: time spent compiling so far.
    """

    status: WarmupStatus = "cold"
    shapes: tuple[tuple[int, ...], ...] = ()
    current: tuple[int, ...] | None = None
    done: int = 0
    total: int = 0
    seconds: float = 0.0
    reason: str | None = None
    compiled: bool = True  # False: a runtime with nothing to compile (eager, onnxruntime); shapes = sizes warmed up

    def line(self) -> str:
        """One line for people: "compiling 1/2 (1x3x256x320), 12 s"."""
        shape = "x".join(map(str, self.current)) if self.current else ""
        count = f" {self.done + 1}/{self.total}" if self.total else ""
        if self.status == "fallback":
            return f"eager (compiling failed: {self.reason})"
        if not self.compiled:
            if self.status == "compiling":
                return f"warming up{count} ({shape})"
            if self.shapes:
                return f"ready: warmed up at {', '.join('x'.join(map(str, s)) for s in self.shapes)} " \
                       f"in {self.seconds:.1f} s"
            return "ready (nothing to compile)"
        if self.status == "compiling":
            return f"compiling{count} ({shape}), {self.seconds:.0f} s"
        if self.status == "ready":
            return f"compiled: {len(self.shapes)} shape(s) in {self.seconds:.0f} s"
        return "not compiled yet (the first call of each shape compiles)"


@dataclass
class _Tracker:
    status: WarmupStatus = "cold"
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    current: tuple[int, ...] | None = None
    done: int = 0
    total: int = 0
    seconds: float = 0.0
    reason: str | None = None
    eager_shapes_logged: bool = False
    compiling_since: float | None = None  # perf_counter() when the running compile started


def bucket_multiple(size_multiple: int, multiple: int = BUCKET_MULTIPLE) -> int:
    """The multiple image inputs are padded to: the least common multiple of the network's own
    size multiple and the bucket multiple."""
    size_multiple = max(int(size_multiple), 1)
    return size_multiple * multiple // math.gcd(size_multiple, multiple)


def inference_dtype(device: Any, task: str) -> Any:
    """The weights' dtype on ``device``: CUDA bf16 (YOLO fp16, or either where the GPU lacks
    bf16), CPU float32."""
    import torch

    if getattr(device, "type", str(device)) != "cuda":
        return torch.float32
    if task == "instance" or not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def _python_strides(module: Any) -> None:
    """Detection heads (ultralytics ``Detect``: a ``stride`` tensor beside ``anchors``) get their
    strides as a tuple of floats. Their anchors are built with ``new_full(..., stride[i])``; a
    tensor element there is a data-dependent scalar that dynamo cannot keep in one graph
    (``PendingUnbackedSymbolNotFound`` on torch 2.13), a Python float is a constant. Done after
    the last ``.to()`` (ultralytics' ``_apply`` expects a tensor there)."""
    import torch

    for m in module.modules():
        stride = getattr(m, "stride", None)
        if isinstance(stride, torch.Tensor) and stride.ndim == 1 and hasattr(m, "anchors"):
            m.stride = tuple(float(s) for s in stride.tolist())


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CompiledRunner:
    """A ``Network`` compiled per input shape (see the module docstring); called like
    ``TorchRunner``: tensor in, tuple of float32 tensors (on the device) out.

    backend / options: ``torch.compile``'s (default inductor: CUDA graphs on CUDA, weight freezing
    on CPU); dtype: the weights' dtype (default ``inference_dtype``); max_graphs: compiled shapes
    kept, more run eagerly. ``compiler``: builds the compiled callable from the module (tests
    pass a failing one to prove the fallback).
    """

    def __init__(self, network: Network, device: Any, *, task: str = "", backend: str = "inductor",
                 options: dict[str, Any] | None = None, dtype: Any = None, max_graphs: int = MAX_GRAPHS,
                 compiler: Callable[[Any], Callable[..., Any]] | None = None) -> None:
        import torch

        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.input_kind = network.input_kind
        self.dtype = dtype if dtype is not None else inference_dtype(self.device, task)
        self.channels_last = self.cuda and network.input_kind == "image"
        module = network.module.to(self.device).eval()
        if self.dtype != torch.float32:
            module = module.to(self.dtype)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        for p in module.parameters():
            p.requires_grad_(False)
        _python_strides(module)
        self.module = module
        self.backend = backend
        if options is None:
            options = {}
            if backend == "inductor":
                options = {"triton.cudagraphs": True} if self.cuda else {"freezing": True}  # "reduce-overhead" on CUDA
        self.options = options
        self.max_graphs = max_graphs
        self.cache_dir = configure_compile_cache()
        self._compiler = compiler
        self._compiled: Callable[..., Any] | None = None
        self._track = _Tracker()
        self._state_lock = threading.Lock()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="compiled-runner")
        self.stream = None
        if self.cuda:
            self.stream = torch.cuda.Stream(self.device)
            self._thread.submit(torch.cuda.set_stream, self.stream).result()  # this thread's current stream

    # -- what pages and benchmarks read ---------------------------------------------------------
    @property
    def size_multiple(self) -> int:
        """Image inputs are padded to this multiple (the shape bucket)."""
        return BUCKET_MULTIPLE if self.input_kind == "image" else 1

    @property
    def provider(self) -> str:
        """"torch compiled (inductor, CUDA graphs, bf16, channels_last)" or "torch eager ... (fallback)"."""
        dtype = str(self.dtype).replace("torch.", "")
        parts = [self.backend] + (["CUDA graphs"] if self.options.get("triton.cudagraphs") else []) \
            + (["frozen weights"] if self.options.get("freezing") else []) + [dtype] \
            + (["channels_last"] if self.channels_last else [])
        if self._track.status == "fallback":
            return f"torch eager {dtype} (compile failed)"
        return f"torch compiled ({', '.join(parts)})"

    def state(self) -> WarmupState:
        with self._state_lock:
            t = self._track
            seconds = t.seconds + (time.perf_counter() - t.compiling_since if t.compiling_since is not None else 0.0)
            return WarmupState(t.status, tuple(t.shapes), t.current, t.done, t.total, seconds, t.reason)

    # -- running --------------------------------------------------------------------------------
    def __call__(self, x: Any) -> tuple[Any, ...]:
        import torch

        x = torch.as_tensor(x)
        ready = None
        if self.cuda and x.device.type == "cuda":  # made on the caller's stream: the runner waits for it
            ready = torch.cuda.Event()
            ready.record(torch.cuda.current_stream(x.device))
        outputs, done = self._thread.submit(self._run, x, ready).result()
        if self.cuda and done is not None:
            caller = torch.cuda.current_stream(self.device)
            caller.wait_event(done)
            for o in outputs:
                o.record_stream(caller)  # the allocator must not reuse them while the caller reads them
        return outputs

    def warm_up(self, shapes: Sequence[tuple[int, ...]], progress: Callable[[float, str], None] | None = None
                ) -> WarmupState:
        """Compile (and run once) for each input shape (B, 3, H, W) / (B, T, D) now; the state
        after. Shapes already compiled cost one call each."""
        import torch

        shapes = [tuple(int(s) for s in shape) for shape in shapes]
        with self._state_lock:
            self._track.done, self._track.total = 0, len(shapes)
        for k, shape in enumerate(shapes):
            if progress is not None:
                progress(k / max(len(shapes), 1), f"compiling {'x'.join(map(str, shape))}")
            self(torch.zeros(shape))
            with self._state_lock:
                self._track.done = k + 1
        with self._state_lock:
            self._track.total = 0
        if progress is not None:
            progress(1.0, self.state().line())
        return self.state()

    def synchronize(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        self._thread.shutdown(wait=False)

    # -- on the runner's thread -----------------------------------------------------------------
    def _run(self, x: Any, ready: Any) -> tuple[tuple[Any, ...], Any]:
        import torch

        if ready is not None:
            torch.cuda.current_stream(self.device).wait_event(ready)
        x = x.to(self.device, self.dtype, non_blocking=True)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        key = tuple(int(s) for s in x.shape)
        with torch.inference_mode():
            out = self._forward(x, key)
            # CUDA graphs reuse their output memory at the next replay: copy out now
            copy = self.cuda and bool(self.options.get("triton.cudagraphs"))
            outputs = tuple(o.float() if o.dtype != torch.float32 else o.clone() if copy else o for o in out)
        done = None
        if self.cuda:
            done = torch.cuda.Event()
            done.record(torch.cuda.current_stream(self.device))
        return outputs, done

    def _forward(self, x: Any, key: tuple[int, ...]) -> Any:
        track = self._track
        if track.status == "fallback":
            return self.module(x)
        if key not in track.shapes and len(track.shapes) >= self.max_graphs:
            if not track.eager_shapes_logged:
                log.info("compiled runner: %d shapes compiled already; %s and further new shapes run eagerly",
                         self.max_graphs, "x".join(map(str, key)))
                track.eager_shapes_logged = True
            return self.module(x)
        if key in track.shapes:
            return self._call_compiled(x)
        started = time.perf_counter()
        with self._state_lock:
            track.status, track.current, track.compiling_since = "compiling", key, started
        try:
            out = self._call_compiled(x)
        except Exception as exc:  # noqa: BLE001 - any compile failure: eager from now on, with the reason
            reason = _reason(exc)
            log.warning("torch.compile failed (%s); running this model eagerly", reason)
            with self._state_lock:
                track.status, track.current, track.reason = "fallback", None, reason
                track.seconds += time.perf_counter() - started
                track.compiling_since = None
            self._compiled = None
            return self.module(x)
        with self._state_lock:
            track.shapes.append(key)
            track.status, track.current = "ready", None
            track.seconds += time.perf_counter() - started
            track.compiling_since = None
        return out

    def _call_compiled(self, x: Any) -> Any:
        import torch

        if self._compiled is None:
            if self._compiler is not None:
                self._compiled = self._compiler(self.module)
            else:
                self._compiled = torch.compile(self.module, backend=self.backend, fullgraph=True, dynamic=False,
                                               options=self.options or None)
        if self.cuda and self.options.get("triton.cudagraphs"):
            torch.compiler.cudagraph_mark_step_begin()  # a new inference: earlier outputs were copied already
        if self.options.get("freezing"):
            # dynamo reads the global flag while tracing (and then guards on the weights' identity, so
            # two versions of one architecture never share a graph with the other's weights folded in)
            import torch._inductor.config as inductor_config

            with inductor_config.patch(freezing=True):
                return self._compiled(x)
        return self._compiled(x)
