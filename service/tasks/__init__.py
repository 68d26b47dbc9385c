"""The application's tasks, one module each, registered here: the one list a worker runs."""

from ..jobs import TaskRegistry
from .process_upload import ProcessUpload
from .send_welcome_email import SendWelcomeEmail

REGISTRY = TaskRegistry([SendWelcomeEmail, ProcessUpload])

__all__ = ["REGISTRY", "ProcessUpload", "SendWelcomeEmail"]
