"""`studio classes list|add|rename|recolor|reorder|merge|remove DATASET ...`.

Thin calls into ``studio.classes``; its refusals (duplicate or empty names, a class in use,
merging a class into itself, the background) print as one line with exit status 1.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from studio.commands.common import ensure_db, print_json

DatasetArg = Annotated[str, typer.Argument(help="dataset name")]
ClassArg = Annotated[str, typer.Argument(help="class name (case does not matter)")]


def _list(dataset: DatasetArg,
          as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The classes in display order (the Label page's 1-9 keys) with their index, colour and use."""
    from studio.classes import class_summaries

    ensure_db()
    rows = class_summaries(dataset=dataset)
    if as_json:
        print_json([row.__dict__ for row in rows])
        return
    if not rows:
        typer.echo(f"dataset {dataset!r} has no classes yet: `studio classes add {dataset} NAME`")
        return
    typer.echo(f"{'#':>3}  {'index':>5}  {'colour':7}  {'annotations':>11}  name")
    for number, row in enumerate(rows, start=0 if rows[0].is_background else 1):
        shown = "bg" if row.is_background else str(number)
        typer.echo(f"{shown:>3}  {row.index:5}  {row.color:7}  {row.annotations:11}  {row.name}")


def _add(dataset: DatasetArg,
         names: Annotated[list[str], typer.Argument(help="names; each may be a comma list (a,b,c) or a classes "
                                                         "file (class_names.txt, labels.txt, classes.json)")],
         color: Annotated[Optional[str], typer.Option("--color", help="'#rrggbb' (one class only); default: the "
                                                      "first palette colour the dataset does not use")] = None) -> None:
    """Add classes (refused if one exists already, ignoring case); they get the next indexes."""
    from studio.class_names import parse_class_list
    from studio.classes import add_classes

    ensure_db()
    parsed = [name for text in names for name in parse_class_list(text)]
    for label in add_classes(dataset=dataset, names=parsed, color=color):
        typer.echo(f"added class {label.name!r} (index {label.index}, colour {label.color}) to {dataset!r}")


def _rename(dataset: DatasetArg, name: ClassArg,
            new_name: Annotated[str, typer.Argument(help="the new name")]) -> None:
    """Rename a class; its index, colour and annotations stay."""
    from studio.classes import rename_class

    ensure_db()
    label = rename_class(dataset=dataset, ref=name, new_name=new_name)
    typer.echo(f"renamed {name!r} to {label.name!r} in {dataset!r}")


def _recolor(dataset: DatasetArg, name: ClassArg,
             color: Annotated[str, typer.Argument(help="'#rrggbb' (quote it in the shell: '#ffe119')")]) -> None:
    """Draw a class in another colour."""
    from studio.classes import recolor_class

    ensure_db()
    label = recolor_class(dataset=dataset, ref=name, color=color)
    typer.echo(f"class {label.name!r} of {dataset!r} is now {label.color}")


def _reorder(dataset: DatasetArg,
             names: Annotated[list[str], typer.Argument(help="every class except the background, in the new "
                                                             "order (names or comma lists)")]) -> None:
    """Set the display order (the Label page's 1-9 keys); indexes in masks do not change."""
    from studio.class_names import parse_class_list
    from studio.classes import reorder_classes

    ensure_db()
    order = [name for text in names for name in parse_class_list(text)]
    ordered = reorder_classes(dataset=dataset, order=order)
    typer.echo(f"{dataset}: " + ", ".join(c.name for c in ordered))


def _merge(dataset: DatasetArg,
           source: Annotated[str, typer.Argument(help="the class that goes away")],
           target: Annotated[str, typer.Argument(help="the class its annotations get")]) -> None:
    """Re-label every annotation of SOURCE as TARGET and delete SOURCE (one transaction)."""
    from studio.classes import merge_classes

    ensure_db()
    report = merge_classes(dataset=dataset, source=source, target=target)
    typer.echo(f"merged {report.removed!r} into {report.target!r}: {report.relabelled} annotations re-labelled")


def _remove(dataset: DatasetArg, name: ClassArg,
            reassign_to: Annotated[Optional[str], typer.Option("--reassign-to", help="give its annotations to "
                                                               "this class (needed while any use it)")] = None) -> None:
    """Delete a class; refused while annotations use it, unless --reassign-to names another."""
    from studio.classes import remove_class

    ensure_db()
    report = remove_class(dataset=dataset, ref=name, reassign_to=reassign_to)
    moved = f"; {report.relabelled} annotations now {report.target!r}" if report.target else ""
    typer.echo(f"removed class {report.removed!r} from {dataset!r}{moved}")


def register(app: typer.Typer) -> None:
    """Add the ``classes`` sub-app to ``app``."""
    classes_app = typer.Typer(help="Classes of a dataset: list, add, rename, recolor, reorder, merge, remove.",
                              no_args_is_help=True)
    app.add_typer(classes_app, name="classes")
    for name, body in (("list", _list), ("add", _add), ("rename", _rename), ("recolor", _recolor),
                       ("reorder", _reorder), ("merge", _merge), ("remove", _remove)):
        classes_app.command(name)(body)
