"""`celery -A services.enhancer.worker worker -Q enhance --concurrency 1`"""

from services.enhancer.tasks import register_tasks
from shared.worker_app import build_worker_app

app, context = build_worker_app("speakup-enhancer")
register_tasks(app, context)
