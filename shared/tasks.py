"""Queue and task names: the only thing services share about each other's work.

Services enqueue by name (`send_task`) and never import each other.
"""

QUEUE_ENHANCE = "enhance"
QUEUE_UPSAMPLE = "upsample"
QUEUE_CLEANUP = "cleanup"
QUEUES = (QUEUE_ENHANCE, QUEUE_UPSAMPLE, QUEUE_CLEANUP)

TASK_ENHANCE = "speakup.enhance"
TASK_UPSAMPLE = "speakup.upsample"
TASK_PURGE_DUE = "speakup.cleanup.purge_due"
TASK_PURGE_JOB = "speakup.cleanup.purge_job"
TASK_AUDIT = "speakup.cleanup.audit"
TASK_SWEEP_STUCK = "speakup.cleanup.sweep_stuck"
TASK_WEBHOOK = "speakup.cleanup.webhook"

TASK_QUEUES = {
    TASK_ENHANCE: QUEUE_ENHANCE,
    TASK_UPSAMPLE: QUEUE_UPSAMPLE,
    TASK_PURGE_DUE: QUEUE_CLEANUP,
    TASK_PURGE_JOB: QUEUE_CLEANUP,
    TASK_AUDIT: QUEUE_CLEANUP,
    TASK_SWEEP_STUCK: QUEUE_CLEANUP,
    TASK_WEBHOOK: QUEUE_CLEANUP,
}
