"""`studio train`, `studio tune` and `studio models list|show|import|remove|cleanup`.

Training and tuning are queued as jobs for the worker by default (``--wait`` follows the
job with a progress bar; ``--here`` runs them in this terminal instead). Either way the
dataset version is fixed now (a snapshot is taken, or an identical one reused), so what the
run reads is what the dataset holds when the command is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from studio.commands.common import HereOpt, QueueOpt, WaitOpt, ensure_db, print_json, run_or_queue

ConfigArg = Annotated[Optional[Path], typer.Argument(help="training config YAML (fields of TrainConfig)")]


def _config(config: Optional[Path], overrides: dict[str, Any]) -> Any:
    from studio.training.config import TrainConfig

    if config is not None:
        return TrainConfig.from_yaml(config, **overrides)
    return TrainConfig.from_dict({k: v for k, v in overrides.items() if v is not None})


def _show_training(outcome: Any) -> None:
    """The result for people ("best val mIoU 0.6340 at epoch 3", Evaluate's value, a chance-level
    warning), then the whole result as JSON."""
    for line in outcome.lines():
        typer.echo(line)
    print_json(outcome)


def register(app: typer.Typer) -> None:
    """Add train, tune and the models sub-app to ``app``."""
    models_app = typer.Typer(help="Model versions: list, show, import, remove, clean up; promote, production, gate, "
                             "bundle.", no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @app.command()
    def train(
        config: ConfigArg = None,
        arch: Annotated[Optional[str], typer.Option("--arch", help="architecture (unet, deeplabv3plus, "
                                                    "yolov8-seg, resnet18, sign_transformer ...)")] = None,
        backbone: Annotated[Optional[str], typer.Option(help="encoder / size (resnet34, n ...)")] = None,
        dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="dataset name")] = None,
        version: Annotated[Optional[int], typer.Option("--version", help="dataset version; default: snapshot now")] = None,
        task: Annotated[Optional[str], typer.Option(help="semantic | instance | classification | sequence")] = None,
        epochs: Annotated[Optional[int], typer.Option(help="epochs")] = None,
        image_size: Annotated[Optional[int], typer.Option(help="training side in pixels")] = None,
        batch_size: Annotated[Optional[int], typer.Option(help="batch size")] = None,
        lr: Annotated[Optional[float], typer.Option(help="peak learning rate")] = None,
        gpus: Annotated[Optional[int], typer.Option(help="processes of this one run (DDP, one per GPU); "
                                                    "batch-size stays the global batch")] = None,
        here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False,
    ) -> None:
        """Train a model on a dataset version and register it (CONFIG.yaml and/or options)."""
        from studio.jobs.kinds import TrainSpec

        ensure_db()
        cfg = _config(config, {"architecture": arch, "backbone": backbone, "dataset": dataset,
                               "dataset_version": version, "task": task, "epochs": epochs,
                               "image_size": image_size, "batch_size": batch_size, "lr": lr, "gpus": gpus})
        run_or_queue(TrainSpec(config=cfg), here=here, queue=queue, wait=wait, default="queue", show=_show_training)

    @app.command()
    def tune(
        config: ConfigArg = None,
        trials: Annotated[int, typer.Option(help="number of Optuna trials")] = 10,
        space: Annotated[Optional[Path], typer.Option(help="YAML: config field -> [low, high] or choices; "
                                                       "default lr and weight_decay")] = None,
        arch: Annotated[Optional[str], typer.Option("--arch", help="architecture")] = None,
        backbone: Annotated[Optional[str], typer.Option(help="encoder / size")] = None,
        dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="dataset name")] = None,
        epochs: Annotated[Optional[int], typer.Option(help="epochs per trial")] = None,
        here: HereOpt = False, queue: QueueOpt = False, wait: WaitOpt = False,
    ) -> None:
        """Search hyper-parameters with Optuna (study stored beside the database); registers the best."""
        import yaml

        from studio.errors import InvalidInput
        from studio.jobs.kinds import TuneSpec

        ensure_db()
        try:
            search = yaml.safe_load(space.read_text()) if space else None
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{space}: not a readable YAML search space ({exc})") from None
        cfg = _config(config, {"architecture": arch, "backbone": backbone, "dataset": dataset, "epochs": epochs})
        run_or_queue(TuneSpec(config=cfg, trials=trials, space=search), here=here, queue=queue, wait=wait,
                     default="queue", show=print_json)

    @models_app.command("list")
    def models_list(task: Annotated[Optional[str], typer.Option(help="only this task")] = None) -> None:
        """Model versions, newest first."""
        from studio.naming import metrics_label
        from studio.registry import list_models

        ensure_db()
        rows = list_models(task)
        if not rows:
            typer.echo("no model versions yet; `studio train ...` or `studio models import FILE`")
        for m in rows:
            metric = next((f"{metrics_label(k)} {v:.4f}" for k, v in m.metrics.items()
                           if k.startswith("best_") and k != "best_epoch" and isinstance(v, (int, float))), "")
            typer.echo(f"{m.id:>4}  {m.name}  [{m.task}]  {m.source}  {metric}")

    @models_app.command("show")
    def models_show(model: Annotated[str, typer.Argument(help="name or id")]) -> None:
        """One version: metadata, metrics, files (JSON)."""
        from studio.registry import get_model, model_dir

        ensure_db()
        version = get_model(model)
        print_json({**version.model_dump(), "folder_path": str(model_dir(version))})

    @models_app.command("import")
    def models_import(
        path: Annotated[Path, typer.Argument(help="a bundle .zip (`studio models bundle`), .pt / .pth (state_dict or "
                                                  "studio checkpoint) or .onnx")],
        task: Annotated[Optional[str], typer.Option(help="task (read from the file when it says)")] = None,
        arch: Annotated[Optional[str], typer.Option("--arch", help="architecture")] = None,
        backbone: Annotated[Optional[str], typer.Option(help="encoder / size")] = None,
        classes: Annotated[Optional[str], typer.Option(help="comma-separated class names in output order")] = None,
        name: Annotated[Optional[str], typer.Option(help="dataset label used in the version name")] = None,
    ) -> None:
        """Register a bundle or an outside checkpoint (loaded with weights_only=True; pickled code is refused)."""
        from studio.model_import import import_model

        ensure_db()
        class_list = [{"name": c.strip(), "index": i} for i, c in enumerate(classes.split(","))] if classes else None
        kwargs = {k: v for k, v in {"task": task, "architecture": arch, "backbone": backbone,
                                    "classes": class_list, "dataset": name}.items() if v is not None}
        version = import_model(path, **kwargs)
        typer.echo(f"imported {path.name} as {version.name} (id {version.id})")

    @models_app.command("remove")
    def models_remove(model: Annotated[str, typer.Argument(help="name or id")],
                      force: Annotated[bool, typer.Option("--force", help="also when evaluations use it")] = False,
                      ) -> None:
        """Delete a version's row and folder."""
        from studio.registry import remove_model

        ensure_db()
        typer.echo(f"removed {remove_model(model, force=force)}")

    @models_app.command("cleanup")
    def models_cleanup(keep: Annotated[int, typer.Option("--keep", help="versions kept per name lineage")] = 3) -> None:
        """Keep the N newest versions per lineage; never one an evaluation uses (its train job's own aside)."""
        from studio.registry import cleanup

        ensure_db()
        removed = cleanup(keep)
        typer.echo("\n".join(f"removed {n}" for n in removed) or "nothing to remove")
