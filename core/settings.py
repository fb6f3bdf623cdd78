"""One settings object, read once at start-up from the environment.

Every field maps to an environment variable named ``SHOPKEEP_<FIELD>`` unless
an explicit alias says otherwise (platform tokens keep their customary names,
e.g. ``SLACK_BOT_TOKEN``). Commands that need a value call
:meth:`Settings.require`, which fails with the variable's name.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPKEEP_", extra="ignore", populate_by_name=True)

    # --- storage -----------------------------------------------------------
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "SHOPKEEP_REDIS_URL"))
    state_ttl_s: int = 30 * 24 * 3600
    dedup_ttl_s: int = 3600
    lock_ttl_ms: int = 15_000
    lock_wait_s: float = 10.0
    # After each conversation save, wait for this many replicas (WAIT) so a failover cannot lose it.
    redis_wait_replicas: int = 0
    redis_wait_replicas_ms: int = 100

    # --- models ------------------------------------------------------------
    artifacts_dir: Path = REPO_ROOT / "artifacts"
    # Which sentence encoder this deployment serves: "english" (all-MiniLM-L6-v2, artifacts/encoder)
    # or "multilingual" (multilingual-e5-small, everything under artifacts/multilingual/).
    encoder: Literal["english", "multilingual"] = "english"
    max_seq_len: int = 128
    batch_max_size: int = 64
    batch_max_wait_ms: float = 2.0
    embedding_cache_size: int = 4096  # texts whose embeddings are kept (greetings, button labels); 0: none
    use_tensorrt: bool = False
    intra_op_threads: int = 0  # 0: let ONNX Runtime decide
    # "openvino" runs the encoder on the CPU with OpenVINO (the `openvino` extra; its gated static int8 graph
    # when `python -m models.openvino_int8 build` made one); "openvino-bf16" runs the fp32 graph in bf16
    # (AMX / AVX-512 BF16 CPUs). onnxruntime stays the default and the GPU path.
    encoder_backend: Literal["onnxruntime", "openvino", "openvino-bf16"] = "onnxruntime"

    # --- nlu (intent training/evaluation; owner: nlu) ----------------------
    # The public intent datasets, shipped in the repository (out-of-scope
    # negatives, parity sentences, the int8 gate, `nlu evaluate`).
    datasets_dir: Path = Field(
        default=REPO_ROOT / "datasets",
        validation_alias=AliasChoices("SHOPKEEP_DATASETS", "SHOPKEEP_DATASETS_DIR"),
    )

    # --- store -------------------------------------------------------------
    shop_url: str = "https://demo-shopkeep.myshopify.com"
    # The shop's identity; unset: the bot's data/shop.yaml for its own catalogue, else derived
    # from the catalogue loaded (core.commerce.shop).
    shop_name: str | None = None
    shop_currency: str | None = None
    shop_locale: str | None = None
    cart_link_template: str = "{shop_url}/cart/add?sku={items}"
    # The language a conversation starts in (before the user's locale or text says
    # otherwise), for every bot that speaks it; None: each bot's bot.yaml default_language.
    default_lang: str | None = None

    # --- demo shop data (catalog helper) ------------------------------------
    # The date the demo's orders treat as "today" for return windows; None: orders.yaml's
    # demo_today. Only the offline demo backend reads it: store hours and a connected
    # Shopify store always use the real clock in the store's time zone.
    demo_today: date | None = None

    # --- commerce backend (shopify helper) -------------------------------------
    # "offline" (the demo CSV/YAML) or "shopify"; empty: Shopify when SHOPIFY_SHOP_DOMAIN is set.
    commerce_backend: str = ""
    shopify_shop_domain: str | None = Field(default=None, validation_alias=AliasChoices("SHOPIFY_SHOP_DOMAIN"))
    shopify_admin_token: str | None = Field(default=None, validation_alias=AliasChoices("SHOPIFY_ADMIN_TOKEN"))
    shopify_webhook_secret: str | None = Field(default=None, validation_alias=AliasChoices("SHOPIFY_WEBHOOK_SECRET"))
    # The Admin GraphQL endpoint; empty: https://{shop}.myshopify.com/admin/api/2025-01/graphql.json.
    shopify_api_url: str | None = Field(default=None, validation_alias=AliasChoices("SHOPIFY_API_URL"))
    shopify_timeout_s: float = 10.0
    # The last synced catalogue is also kept here (JSON), for a restart while both Redis and the API are away.
    shopify_catalog_cache: Path | None = None
    notify_min_interval_s: float = 0.05  # pacing of opt-in messages per platform

    # --- platforms ---------------------------------------------------------
    slack_bot_token: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_signing_secret: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET"))
    slack_app_token: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL"))
    telegram_bot_token: str | None = Field(default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN"))
    telegram_webhook_secret: str | None = Field(default=None, validation_alias=AliasChoices("TELEGRAM_WEBHOOK_SECRET"))
    telegram_api_url: str = Field(default="https://api.telegram.org/bot", validation_alias=AliasChoices("TELEGRAM_API_URL"))

    # --- serving (adapters helper) -------------------------------------------
    # Comma-separated platforms to serve ("slack,telegram"). Empty: every
    # platform whose bot token is set. A listed platform must be fully configured.
    platforms: str = ""
    slack_bot: str = "shop_assistant"
    telegram_bot: str = "shop_assistant"
    slack_command: str = "/shop"
    telegram_mode: str = "polling"  # "polling" (shopkeep telegram-poll) or "webhook" (shopkeep serve)
    telegram_webhook_url: str | None = None  # when set, `serve` registers it with setWebhook at start-up
    telegram_callback_ttl_s: int = 7 * 24 * 3600  # long button payloads kept server-side this long

    # --- staff helpdesk and human handoff (staff helper) ---------------------
    staff_bot: str = "staff_helpdesk"
    staff_command: str = "/staff"
    # Comma-separated Slack channel ids (C…) whose messages go to the staff bot.
    staff_channels: str = ""
    # Who may look up any customer's order: comma-separated team (T…), channel (C…) and user (U…) ids.
    staff_allowlist: str = ""
    # Where handoff cards are posted: "T…/C…" or a bare channel id. Empty: no live handoff.
    handoff_channel: str = ""
    handoff_timeout_s: int = 300  # unclaimed this long: the shopper is offered an e-mail follow-up
    handoff_sweep_every_s: float = 15.0  # how often the server looks for unclaimed tickets
    handoff_upset_confidence: float = 0.8  # a complaint at least this confident opens a ticket

    # --- owner's dashboard and analytics (dashboard helper) ---------------------
    # The dashboard's login token; unset: /admin is off (and says how to turn it on).
    admin_token: str | None = None
    admin_session_ttl_s: int = 12 * 3600  # a login lasts this long
    # Owner-taught data (review-queue labels, new FAQ answers) and the heads trained from it.
    # Outside the installed package; every worker must see the same folder. Unset: teaching is off.
    data_dir: Path | None = None
    events: bool = True  # record dialogue events in Redis for the dashboard (needs REDIS_URL)
    events_retention_days: int = 30  # counters, frequency tables and examples older than this are dropped
    events_unanswered_max: int = 20_000  # newest unanswered examples kept (with their embeddings)
    events_top_max: int = 2_000  # entries kept per daily frequency table (search queries, items)
    events_queue_max: int = 20_000  # events waiting to be written; beyond it new ones are dropped (counted)
    events_flush_every_s: float = 0.5  # how often queued events are written (one pipeline)
    head_check_every_s: float = 2.0  # how often each worker looks for a newly trained intent head

    @property
    def encoder_artifacts_dir(self) -> Path:
        """The artifacts of the selected encoder: ``encoder/``, ``intents/<bot>/``, ``cache/``.

        The English encoder keeps the historical layout at the artifacts root; every
        other encoder has its own folder below it, so switching never mixes heads.
        """
        return encoder_artifacts_dir(self.artifacts_dir, self.encoder)

    def require(self, field: str) -> object:
        """Return a setting's value or raise :class:`ConfigError` naming its variable."""
        value = getattr(self, field)
        if value in (None, ""):
            info = type(self).model_fields[field]
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                name = str(alias.choices[0])
            else:
                name = f"SHOPKEEP_{field.upper()}"
            raise ConfigError(name, "is missing, and has no default.")
        return value


ENCODERS = ("english", "multilingual")


def encoder_artifacts_dir(artifacts_dir: Path, encoder: str) -> Path:
    """Where ``encoder``'s artifacts live below ``artifacts_dir`` (see ``Settings.encoder_artifacts_dir``)."""
    if encoder not in ENCODERS:
        raise ConfigError("SHOPKEEP_ENCODER", f"must be one of {', '.join(ENCODERS)}, not {encoder!r}.")
    return artifacts_dir if encoder == "english" else artifacts_dir / encoder
