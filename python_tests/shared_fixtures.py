"""Where the shared reference data lives, and the rule for tests that need it.

``../shared/data`` relative to the project root holds real sample images, evaluation fixtures with the
official tools' answers and real Human3.6M frames. A test that needs it skips when it is absent (a clone
elsewhere); with ``HPEFAST_REQUIRE_FIXTURES=1`` (set by ``.ci/run``) it fails instead, so those tests
cannot silently vanish from CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REQUIRE_FIXTURES = os.environ.get("HPEFAST_REQUIRE_FIXTURES") == "1"


def require_shared(path: Path = SHARED_DATA, what: str = "../shared/data") -> Path:
    """``path`` when it exists; otherwise skip the test (fail it with HPEFAST_REQUIRE_FIXTURES=1)."""
    if not Path(path).exists():
        message = f"{what} is not present ({path})"
        if REQUIRE_FIXTURES:
            pytest.fail(f"HPEFAST_REQUIRE_FIXTURES=1 but {message}")
        pytest.skip(message)
    return Path(path)
