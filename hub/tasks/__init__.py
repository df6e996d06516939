"""Celery application and tasks."""

from hub.tasks.app import celery_app, configure
from hub.tasks.jobs import convert_messages, dispatch_outbox, enqueue_conversion, sweep

__all__ = ["celery_app", "configure", "convert_messages", "dispatch_outbox", "enqueue_conversion", "sweep"]
