"""The ``shopkeep`` command line. Sub-commands live in ``bots/commands``."""

from __future__ import annotations

import typer

from bots.commands import models as models_cmd
from bots.commands import nlu as nlu_cmd

app = typer.Typer(
    name="shopkeep",
    help="Shopkeep: a retail chatbot for Slack and Telegram.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(nlu_cmd.app, name="nlu")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
