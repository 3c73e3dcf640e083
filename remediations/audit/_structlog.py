"""structlog, imported without its optional rich integration.

structlog imports rich (``structlog.dev``/``structlog.tracebacks``, for a
developer console's pretty tracebacks) whenever rich is installed, and rich is
(the progress bar uses it).  The audit log never renders to a console, yet that
import cost about 60 ms of every run's start-up (``benchmarks/startup.py``).
So structlog is imported once with rich hidden, and falls back to its plain
formatters, as it does where rich is not installed; rich stays importable for
the progress bar afterwards.
"""

from __future__ import annotations

import sys

if "structlog" in sys.modules or "rich" in sys.modules:
    import structlog
else:
    sys.modules["rich"] = None  # type: ignore[assignment]  # "not installed", for this import
    try:
        import structlog
    finally:
        del sys.modules["rich"]

__all__ = ["structlog"]
