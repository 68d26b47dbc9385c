"""The libraries a user would otherwise pick, driven through their own public APIs.

Each is imported only inside its module's child functions: the suite runs without them (their
scenarios are then reported as skipped), and CI's smoke test needs none of them.
"""

import importlib.util

PEERS = ("huey", "procrastinate")


def installed() -> set[str]:
    """The peers importable here."""
    return {name for name in PEERS if importlib.util.find_spec(name) is not None}
