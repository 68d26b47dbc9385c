"""``python -m service`` with the test task ``nap`` registered beside the app's own tasks."""

from __future__ import annotations

import sys

from service.cli import main
from service.tasks import REGISTRY

from .slow_task import Hog, Nap

REGISTRY.register(Nap)
REGISTRY.register(Hog)
sys.exit(main())
