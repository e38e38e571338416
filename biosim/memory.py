"""What the machine can still allocate, for the checks every family makes in ``prepare`` before it computes."""

from __future__ import annotations

import contextlib
from pathlib import Path

MEMINFO = Path("/proc/meminfo")
_V1 = Path("/sys/fs/cgroup/memory")
CGROUP_FILES = ((Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),  # v2: limit, usage
                (_V1 / "memory.limit_in_bytes", _V1 / "memory.usage_in_bytes"))  # v1


def _cgroup_room() -> int | None:
    """Bytes left under this container's memory limit (cgroup v2, else v1), or None without a numeric limit."""
    for limit_file, usage_file in CGROUP_FILES:
        try:
            limit, usage = int(limit_file.read_text().strip()), int(usage_file.read_text().strip())
        except (OSError, ValueError):  # absent, or "max" (no limit)
            continue
        return max(0, limit - usage)
    return None


def available_memory() -> int | None:
    """Bytes available for new allocations: the kernel's ``MemAvailable``, lowered to what the container's cgroup
    limit leaves; None when neither is known."""
    known = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        known += [int(line.split()[1]) * 1024 for line in MEMINFO.read_text().splitlines()
                  if line.startswith("MemAvailable:")][:1]
    room = _cgroup_room()
    known += [room] if room is not None else []
    return min(known) if known else None
