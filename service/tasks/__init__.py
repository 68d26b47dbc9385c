"""The application's tasks, one module each, registered here: the one list a worker runs, and
the schedules every worker pushes."""

from ..jobs import Schedule, TaskRegistry
from .cleanup_uploads import CleanupUploads
from .extract_text import ExtractText
from .finish_upload import FinishUpload
from .make_thumbnail import MakeThumbnail
from .process_upload import ProcessUpload
from .send_welcome_email import SendWelcomeEmail

REGISTRY = TaskRegistry([SendWelcomeEmail, ProcessUpload, MakeThumbnail, ExtractText,
                         FinishUpload, CleanupUploads])

SCHEDULES = [
    Schedule(name="cleanup-uploads", cron="*/15 * * * *", task=CleanupUploads()),
]

__all__ = ["REGISTRY", "SCHEDULES", "CleanupUploads", "ExtractText", "FinishUpload",
           "MakeThumbnail", "ProcessUpload", "SendWelcomeEmail"]
