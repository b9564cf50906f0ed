"""`celery -A services.upsampler.worker worker -Q upsample`"""

from services.upsampler.tasks import register_tasks
from shared.worker_app import build_worker_app

app, context = build_worker_app("speakup-upsampler")
register_tasks(app, context)
