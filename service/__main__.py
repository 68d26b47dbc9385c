"""``python -m service``: see :mod:`service.cli`."""

import sys

from .cli import main

sys.exit(main())
