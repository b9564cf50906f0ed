"""`celery -A services.cleanup.worker worker -Q cleanup` and
`celery -A services.cleanup.worker beat` (the beat schedule lives in shared/celery_app.py,
with string task names)."""

from services.cleanup.tasks import register_tasks
from shared.worker_app import build_worker_app

app, context = build_worker_app("speakup-cleanup")
register_tasks(app, context)
