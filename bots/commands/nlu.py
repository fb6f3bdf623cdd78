"""`shopkeep nlu` commands (placeholder until filled)."""

import typer

app = typer.Typer(help="nlu commands.", no_args_is_help=True)
