"""Every job kind of the studio, one module per feature; importing this package registers them.

=============  =========================  ==============================================
kind           spec                       what it does
=============  =========================  ==============================================
sleep          SleepSpec                  diagnostic: sleeps, reports progress, may fail
import         ImportSpec                 a dataset in (COCO / YOLO / PNG masks / images)
export         ExportSpec                 a dataset (or version) out, read back and checked
embed          EmbedSpec                  SAM embeddings of every image of a dataset
train          TrainSpec                  one training run, registered as a model version
tune           TuneSpec                   an Optuna search; the best trial is registered
evaluate       EvaluateSpec               a model version scored on a split
prelabel       PrelabelSpec               a version's predictions as draft annotations
export_model   ExportModelSpec            a version to ONNX / TorchScript, parity-checked
quantize       QuantizeSpec               a version to INT8 ONNX, kept if its accuracy holds
bench          BenchSpec                  latency / FPS / memory of a version
rank           RankSpec                   unlabelled images ordered by a version's uncertainty
=============  =========================  ==============================================

Specs import cheaply (heavy imports live inside ``run``), so pages and the CLI can build them.
"""

from studio.jobs.kinds.active import RankSpec
from studio.jobs.kinds.data import ExportSpec, ImportSpec
from studio.jobs.kinds.diagnostic import SleepResult, SleepSpec
from studio.jobs.kinds.modelops import (BenchOutcome, BenchSpec, EvaluateResult, EvaluateSpec, ExportModelSpec,
                                        PrelabelSpec, QuantizeSpec)
from studio.jobs.kinds.segment import EmbedResult, EmbedSpec
from studio.jobs.kinds.training import TrainOutcome, TrainSpec, TuneOutcome, TuneSpec

__all__ = ["BenchOutcome", "BenchSpec", "EmbedResult", "EmbedSpec", "EvaluateResult", "EvaluateSpec", "ExportModelSpec",
           "ExportSpec", "ImportSpec", "PrelabelSpec", "QuantizeSpec", "RankSpec", "SleepResult", "SleepSpec", "TrainOutcome", "TrainSpec",
           "TuneOutcome", "TuneSpec"]
