"""The ``shopkeep`` command line.

Each module in ``bots/commands`` exposes ``register(app)`` and adds its own
commands; this file only assembles them. Nothing heavy is imported here so
``shopkeep --help`` stays instant.
"""

from __future__ import annotations

import typer

from bots.commands import chat, evaluate, models, nlu, search, serve

app = typer.Typer(
    name="shopkeep",
    help="Shopkeep: a retail chatbot for Slack and Telegram.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (models, nlu, search, chat, serve, evaluate):
    module.register(app)


@app.command()
def version() -> None:
    """Print Shopkeep's version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("shopkeep"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
