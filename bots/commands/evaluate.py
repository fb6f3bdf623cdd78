"""`shopkeep eval`: the development benchmarks (catalogue search and conversations, staff helpdesk,
Chinese shoppers over the English demo catalogue).

Each part prints a table and writes JSON under ``bench/results/``. The
labelled sets of the first two live outside the repository (``../shared``): a part whose
folder is missing is skipped with a message naming the folder. The staff part also runs the
repository's Chinese set (``tests/data/staff_zh.yaml``), with or without ``../shared``.
``zh-search`` ships its labelled queries in the repository and runs every encoder that is
built, side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from core.settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"
RESULTS = REPO_ROOT / "bench" / "results"


class Part(str, Enum):
    all = "all"
    catalogs = "catalogs"
    staff = "staff"
    zh_search = "zh-search"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(name="eval")(evaluate)


def evaluate(
    part: Annotated[Part, typer.Option("--part", help="Which benchmark to run.")] = Part.all,
    catalogs: Annotated[Path, typer.Option("--catalogs", help="Folder with the exports, queries.json and "
                                           "conversations.yaml.")] = SHARED / "catalogs",
    staff: Annotated[Path, typer.Option("--staff", help="Folder with the staff questions.yaml.")] = SHARED / "staff",
    staff_zh: Annotated[Path, typer.Option("--staff-zh", help="The Chinese staff question set.")] = REPO_ROOT
    / "tests" / "data" / "staff_zh.yaml",
    out: Annotated[Path, typer.Option("--out", help="Where the JSON results go.")] = RESULTS,
) -> None:
    """Run the development benchmarks and print per-kind scores."""
    ran = 0
    if part in (Part.all, Part.catalogs):
        ran += _run("catalogs", catalogs, lambda: _catalogs(catalogs, out))
    if part in (Part.all, Part.staff):
        _staff(staff, staff_zh, out)  # the Chinese set is in the repository: it always runs
        ran += 1
    if part in (Part.all, Part.zh_search):  # in the repository: needs nothing from ../shared
        from bots.evaluation.zh_search import main as zh_search

        zh_search(out)
        ran += 1
    if not ran:
        raise typer.Exit(code=1)


def _run(name: str, folder: Path, run: Callable[[], None]) -> int:
    if not folder.is_dir():
        typer.echo(f"eval {name}: {folder} not found; skipped", err=True)
        return 0
    run()
    return 1


def _catalogs(folder: Path, out: Path) -> None:
    from bots.evaluation.catalogs import main

    main(folder, out)


def _staff(folder: Path, zh: Path, out: Path) -> None:
    from bots.evaluation.staff import main

    main(folder, out, zh=zh)
