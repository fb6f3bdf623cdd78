"""`shopkeep chat`: talk to a bot in the terminal (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command()
    def chat(
        bot: Annotated[str, typer.Option(help="Bot folder under bots/.")] = "shop_assistant",
        catalog: Annotated[Path | None, typer.Option(help="Product catalogue (Shopify CSV or JSON).")] = None,
        redis_url: Annotated[str | None, typer.Option(help="Redis URL; default: in-memory state.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object per reply.")] = False,
        lang: Annotated[str | None, typer.Option(help="Reply language (en or zh).")] = None,
        user: Annotated[str, typer.Option(help="User id for this conversation.")] = "console-user",
    ) -> None:
        """Chat with a bot in the terminal; a number presses a shown button, Ctrl-D quits."""
        import asyncio
        import logging

        from rich.console import Console

        from core.errors import ShopkeepError
        from core.logs import configure_logging

        configure_logging(logging.WARNING)
        err = Console(stderr=True)
        try:
            asyncio.run(_chat(bot=bot, catalog=catalog, redis_url=redis_url, json_out=json_out, lang=lang, user=user))
        except ShopkeepError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(code=1) from e
        except KeyboardInterrupt:
            raise typer.Exit(code=0) from None


async def _chat(*, bot: str, catalog: Path | None, redis_url: str | None, json_out: bool, lang: str | None, user: str) -> None:
    from adapters.console import ConsoleChat
    from bots.runtime import Runtime
    from core.settings import Settings

    settings = Settings()
    # The console is the embedded demo: state stays in memory unless a URL is given here.
    settings = settings.model_copy(update={"redis_url": redis_url})
    async with Runtime.open(settings, bot=bot, catalog=catalog) as runtime:
        console = ConsoleChat(handle=runtime.manager.handle, bot=bot, user_id=user, locale=lang, json_mode=json_out)
        await console.run()
