"""The hub's one configuration object, read from ``HUB_*`` environment variables.

Nested values use ``__`` (``HUB_SENDER_CHARSETS__HIS_SZH=GB18030``). Everything else in the hub takes
its values from :func:`get_settings` and passes them down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _shipped_mappings_dir() -> Path:
    """The mapping library that came with this installation.

    A source checkout (or an editable install) has it beside the package; a wheel installs it as data files
    under ``<prefix>/share/hub/mappings`` (``[tool.setuptools.data-files]`` in pyproject.toml).
    """
    checkout = _REPO_ROOT / "mappings"
    if (checkout / "message").is_dir():
        return checkout
    installed = Path(sys.prefix) / "share" / "hub" / "mappings"
    return installed if (installed / "message").is_dir() else checkout


DEFAULT_MAPPINGS_DIR = _shipped_mappings_dir()


def _default_data_dir() -> Path:
    return Path.cwd() / "var"


# Secrets that must never reach a production deployment (compared case-insensitively).
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "changethis", "secret", "password", "demo", "dev", "test", "x"}


class AuthClient(BaseModel):
    """A system registered with the built-in token endpoint (OAuth 2 client_credentials)."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr
    organization: str | None = None  # the Organization id whose data this system produces and reads
    scopes: list[str] = Field(default_factory=lambda: ["system/*.cruds"])  # the most it may be granted
    purposes: list[str] = Field(default_factory=list)  # v3 ActReason purposes of use it may assert (TREAT …)
    role: Literal["system", "operator"] = "system"  # operator: hub-wide, not bound to one organisation


class DemoUser(BaseModel):
    """A documented demo person for the built-in token endpoint (password grant; never in production)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["patient", "practitioner", "pharmacist", "operator"]
    scopes: list[str]
    organization: str | None = None
    patient: str | None = None  # the Patient id of a patient user
    fhir_user: str | None = None  # SMART fhirUser, e.g. Practitioner/demo-doctor
    purposes: list[str] = Field(default_factory=list)


def _default_demo_users() -> dict[str, DemoUser]:
    return {
        "patient": DemoUser(
            role="patient",
            patient="demo-patient",
            fhir_user="Patient/demo-patient",
            scopes=["patient/*.rs", "patient/Consent.cruds", "patient/Appointment.cruds"],
        ),
        "doctor": DemoUser(
            role="practitioner",
            organization="demo-hospital",
            fhir_user="Practitioner/demo-doctor",
            scopes=["user/*.cruds"],
            purposes=["TREAT"],
        ),
        "pharmacist": DemoUser(
            role="pharmacist",
            organization="demo-pharmacy",
            fhir_user="Practitioner/demo-pharmacist",
            scopes=[
                "user/Patient.rs",
                "user/Medication.rs",
                "user/MedicationRequest.rs",
                "user/MedicationDispense.cruds",
                "user/Organization.rs",
                "user/Practitioner.rs",
            ],
            purposes=["TREAT"],
        ),
        "operator": DemoUser(role="operator", fhir_user="Practitioner/demo-operator", scopes=["user/*.cruds"]),
    }


def _default_purpose_grants() -> dict[str, list[str]]:
    return {
        "TREAT": ["*"],
        "ETREAT": ["*"],
        "PUBHLTH": ["Immunization", "Observation", "DiagnosticReport", "Condition"],
    }


class Settings(BaseSettings):
    """All settings of the hub; see the configuration table in README.md."""

    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="ignore")

    # Storage and queue
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = ""  # empty: sqlite file in data_dir
    broker_url: str = ""  # empty: embedded kombu SQLAlchemy transport on a sqlite file in data_dir
    result_backend: str | None = None
    task_queue: str = "hub"  # the Celery queue; hubs sharing one broker need different names

    # Listeners
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    mllp_idle_timeout: float = 300.0
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    max_message_bytes: int = 1_048_576
    # A batch payload (FHS/BHS … BTS/FTS, README "Batches") is held whole in memory and answered after its
    # last message is committed: 16 MiB is about 6,000 ORU^R01 of 30 results (2.5 KB each), stored and
    # answered in 1.6 s on SQLite (measured). Each message inside still obeys max_message_bytes.
    max_batch_bytes: int = 16_777_216

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
            "OMP",
            "OMI",
            "RDE",
            "RDS",
            "RAS",
            "RGV",
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
    # A message whose type and event no message template converts is answered AR (HL7 error 200/201) and kept as
    # rejected, instead of AA for a conversion that can only fail (hub.mapping.events). false: store it.
    refuse_unmapped_messages: bool = True
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
    # Processing ids (MSH-11.1, HL7 table 0103: P production, T training, D debugging) accepted; others get AR 202.
    # Every one by default; a production hub sets ["P"], so that no training or test patient reaches its store.
    allowed_processing_ids: list[str] = Field(default_factory=lambda: ["P", "T", "D"])
    # Charset used when MSH-18 is empty, by sending application[^facility] (MSH-3 or MSH-3^MSH-4).
    sender_charsets: dict[str, str] = Field(default_factory=dict)
    default_charset: str = "UTF-8"
    # IANA timezone of each sender (MSH-3 or MSH-3^MSH-4) for timestamps without an offset; for a sender not
    # named, MSH-7's offset (the message's default zone, v2.5.1 §2.14.9.7), else the default timezone.
    sender_timezones: dict[str, str] = Field(default_factory=dict)
    default_timezone: str = "Asia/Shanghai"
    ingest_batch_max: int = 500  # group commit: at most this many messages per transaction
    ingest_batch_wait_ms: float = 2.0  # and wait at most this long to fill a batch
    # conversion: messages per transaction (each in its own savepoint); fewer commits, same outcome per message
    convert_group: int = Field(default=1, ge=1, le=500)
    sweep_interval_s: float = 30.0  # how often committed-but-unconverted messages are re-enqueued
    sweep_grace_s: float = 10.0  # a row younger than this is left to its own task

    # Mappings
    mappings_dir: Path = DEFAULT_MAPPINGS_DIR
    # An invalid value (a date that is no date …) in an element FHIR does not require: left out and reported on the
    # inbox row (false), or the whole message refused (true). Id keys and required elements always refuse.
    reject_invalid_values: bool = False

    # FHIR
    # The public FHIR base (behind a proxy: its address). Empty: links use the base of each request, and tokens
    # name http://<HUB_HTTP_HOST>:<HUB_HTTP_PORT>/fhir as their audience.
    fhir_base_url: str = ""
    fhir_search_default_count: int = Field(default=50, ge=1)  # search page size without _count
    fhir_search_max_count: int = Field(default=1000, ge=1)  # larger _count values are cut to this

    # Security (issue 4 builds on these; hub/security/README.md explains the model)
    environment: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr("")
    # Tokens: issuer and audience the hub expects (default: the FHIR base's origin, and the FHIR base).
    auth_issuer: str = ""
    auth_audience: str = ""
    # Production: the identity provider's keys, from a URL (cached) or a local JWKS file. With neither and
    # outside production, the hub runs its built-in token endpoint with a key generated into data_dir.
    auth_jwks_url: str = ""
    auth_jwks_file: Path | None = None
    auth_jwks_cache_s: float = 300.0
    auth_token_url: str = ""  # the external token endpoint advertised in SMART discovery
    auth_algorithms: list[str] = Field(default_factory=lambda: ["ES256", "RS256"])
    auth_signing_alg: Literal["ES256", "RS256"] = "ES256"  # the built-in endpoint's key
    auth_token_ttl_s: int = 3600
    auth_leeway_s: int = 30
    auth_clients: dict[str, AuthClient] = Field(default_factory=dict)
    auth_demo_users: dict[str, DemoUser] = Field(default_factory=_default_demo_users)
    auth_demo_password: SecretStr = SecretStr("demo")
    # Purpose of use (v3 ActReason) → resource types it lets an organisation read from other organisations.
    auth_purpose_grants: dict[str, list[str]] = Field(default_factory=_default_purpose_grants)
    # Rate limit per client: a token bucket of `burst` requests refilled at `per_s`; 0 turns it off.
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 200
    rate_limit_redis_url: str = ""  # empty: in-process buckets (one replica); set it when running several

    @model_validator(mode="after")
    def _security_defaults(self) -> Settings:
        base = (self.fhir_base_url or f"http://{self.http_host}:{self.http_port}/fhir").rstrip("/")
        if not self.auth_issuer:
            self.auth_issuer = base.removesuffix("/fhir")
        if not self.auth_audience:
            self.auth_audience = base
        if self.environment == "production":
            if self.secret_key.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
                raise ValueError("HUB_SECRET_KEY must be set to a real secret in production")
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("HUB_SECRET_KEY must be at least 32 characters in production")
            if not (self.auth_jwks_url or self.auth_jwks_file):
                raise ValueError(
                    "production needs the identity provider's keys: HUB_AUTH_JWKS_URL or HUB_AUTH_JWKS_FILE"
                )
            for client_id, client in self.auth_clients.items():
                if client.secret.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
                    raise ValueError(f"HUB_AUTH_CLIENTS: client {client_id!r} has a placeholder secret")
        return self

    @property
    def auth_builtin(self) -> bool:
        """Whether the built-in token endpoint issues tokens (never in production, nor with an external IdP)."""
        return self.environment != "production" and not (self.auth_jwks_url or self.auth_jwks_file)

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
        return self.configured_charset(sending_app, sending_facility) or self.default_charset

    def configured_charset(self, sending_app: str, sending_facility: str) -> str | None:
        """The charset ``HUB_SENDER_CHARSETS`` names for a sender (``MSH-3^MSH-4``, else ``MSH-3``), None if none."""
        return self.sender_charsets.get(f"{sending_app}^{sending_facility}") or self.sender_charsets.get(sending_app)

    def timezone_for(self, sending_app: str, sending_facility: str) -> str | None:
        """The zone configured for a sender (``HUB_SENDER_TIMEZONES``), None when it has none: its messages'
        timestamps without an offset are then in MSH-7's offset, else in ``default_timezone``."""
        return self.sender_timezones.get(f"{sending_app}^{sending_facility}") or self.sender_timezones.get(sending_app)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
