"""OpenMP settings shared by the commands that train on the CPU (``hpefast demo``, ``hpefast train``)."""

from __future__ import annotations

import os
import sys


def prefer_passive_omp_wait() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets it; call before torch loads.

    Idle OpenMP threads then sleep instead of spinning. On a small CPU shared with other work, spinning
    threads make every parallel region wait for a descheduled sibling (measured on the 2-core dev VM under
    load: 3.4 s per demo step spinning, 0.55 s sleeping). The OpenMP runtime reads the variable once, when
    torch loads it: called later, this still sets the variable (for child processes such as DataLoader
    workers started with spawn, or torchrun ranks) but cannot change the running process.

    Returns True when the setting can take effect in this process (torch was not imported yet).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules
