"""The hub's one configuration object, read from ``HUB_*`` environment variables.

Nested values use ``__`` (``HUB_SENDER_CHARSETS__HIS_SZH=GB18030``). Everything else in the hub takes
its values from :func:`get_settings` and passes them down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAPPINGS_DIR = _REPO_ROOT / "mappings"


def _default_data_dir() -> Path:
    return Path.cwd() / "var"


class Settings(BaseSettings):
    """All settings of the hub; see the configuration table in README.md."""

    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="ignore")

    # Storage and queue
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = ""  # empty: sqlite file in data_dir
    broker_url: str = ""  # empty: embedded kombu SQLAlchemy transport on a sqlite file in data_dir
    result_backend: str | None = None

    # Listeners
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    mllp_idle_timeout: float = 300.0
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    max_message_bytes: int = 1_048_576

    # Ingestion
    # Message types (MSH-9.1^MSH-9.2, or MSH-9.1 alone for every event) and versions accepted.
    allowed_message_types: list[str] = Field(
        default_factory=lambda: [
            "ADT",
            "ORU",
            "OUL",
            "ORM",
            "OML",
            "OMG",
            "RDE",
            "RDS",
            "SIU",
            "MDM",
            "VXU",
            "PPR",
            "BAR",
            "DFT",
            "REF",
            "ACK",
        ]
    )
    allowed_versions: list[str] = Field(
        default_factory=lambda: [
            "2.1",
            "2.2",
            "2.3",
            "2.3.1",
            "2.4",
            "2.5",
            "2.5.1",
            "2.6",
            "2.7",
            "2.7.1",
            "2.8",
            "2.8.1",
            "2.8.2",
            "2.9",
        ]
    )
    # Charset used when MSH-18 is empty, by sending application[^facility] (MSH-3 or MSH-3^MSH-4).
    sender_charsets: dict[str, str] = Field(default_factory=dict)
    default_charset: str = "UTF-8"
    # IANA timezone of each sender (MSH-3 or MSH-3^MSH-4) for timestamps without an offset.
    sender_timezones: dict[str, str] = Field(default_factory=dict)
    default_timezone: str = "Asia/Shanghai"
    ingest_batch_max: int = 500  # group commit: at most this many messages per transaction
    ingest_batch_wait_ms: float = 2.0  # and wait at most this long to fill a batch
    sweep_interval_s: float = 30.0  # how often committed-but-unconverted messages are re-enqueued
    sweep_grace_s: float = 10.0  # a row younger than this is left to its own task

    # Mappings
    mappings_dir: Path = DEFAULT_MAPPINGS_DIR

    # FHIR
    fhir_base_url: str = "http://127.0.0.1:8000/fhir"

    # Security (issue 4 builds on these)
    secret_key: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'hub.db').as_posix()}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{(self.data_dir / 'broker.db').as_posix()}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def charset_for(self, sending_app: str, sending_facility: str) -> str:
        """The configured default charset for a sender whose MSH-18 is empty."""
        return (
            self.sender_charsets.get(f"{sending_app}^{sending_facility}")
            or self.sender_charsets.get(sending_app)
            or self.default_charset
        )

    def timezone_for(self, sending_app: str, sending_facility: str) -> str:
        return (
            self.sender_timezones.get(f"{sending_app}^{sending_facility}")
            or self.sender_timezones.get(sending_app)
            or self.default_timezone
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
