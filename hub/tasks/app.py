"""The Celery application. One code path for every broker: only ``HUB_BROKER_URL`` differs.

Embedded default: kombu's SQLAlchemy transport on a SQLite file beside the database (no server). Production:
``redis://…`` or ``amqp://…``. Tasks are thin (arguments, retries, logging); their logic lives in plain
functions (:mod:`hub.conversion`, :mod:`hub.tasks.sweeper`, :mod:`hub.events`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery import Celery
from kombu import pools as kombu_pools

from hub.config import Settings, get_settings

celery_app = Celery("hub", include=["hub.tasks.jobs"])
_configured_for: str | None = None


def configure(settings: Settings | None = None) -> Celery:
    """Point the Celery app at the settings' broker (idempotent per broker URL).

    Args:
        settings: the settings to use (default: the process settings).

    Returns:
        The configured Celery app.
    """
    global _configured_for
    settings = settings or get_settings()
    key = f"{settings.broker_url}|{settings.database_url}|{settings.task_queue}"
    if _configured_for == key:
        return celery_app
    if _configured_for is not None:
        # Reconfigured (tests; a process switching hubs): drop what Celery built from the old configuration —
        # the broker connection pool and the amqp helper that holds the queues, router and producer pool.
        kombu_pools.reset()  # type: ignore[no-untyped-call]  # closes every pooled broker connection and empties kombu's pool registry
        celery_app._pool = None
        celery_app.__dict__.pop("amqp", None)
    if settings.broker_url.startswith("sqla+"):
        # kombu hands every transport option of the SQLAlchemy transport to create_engine(), so none are set here
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    celery_app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.task_queue,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=settings.result_backend,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule={
            "sweep-unconverted": {"task": "hub.sweep", "schedule": timedelta(seconds=settings.sweep_interval_s)},
            "dispatch-outbox": {"task": "hub.dispatch_outbox", "schedule": timedelta(seconds=5)},
        },
        beat_schedule_filename=str(Path(settings.data_dir) / "celerybeat-schedule"),
    )
    _configured_for = key
    return celery_app
