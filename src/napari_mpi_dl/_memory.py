"""How much memory this process may still allocate (to refuse oversized work up front)."""

from __future__ import annotations

import contextlib
import os


def _meminfo_available() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _address_space_left() -> int | None:
    """RLIMIT_AS (``ulimit -v``) minus the current virtual size, if a limit is set."""
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    return None


def _cgroup_left() -> int | None:
    """cgroup v2 ``memory.max - memory.current`` of this process's cgroup, if limited."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        rel = open("/proc/self/cgroup").read().strip().split("\n")[0].split(":", 2)[2]
        base = os.path.join("/sys/fs/cgroup", rel.lstrip("/"))
        limit = open(os.path.join(base, "memory.max")).read().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int(open(os.path.join(base, "memory.current")).read()))
    return None


def available_memory_bytes() -> int | None:
    """The smallest of: free RAM (MemAvailable), the address-space limit left, the cgroup
    limit left. None when none of them can be read (then nothing is refused)."""
    values = [v for v in (_meminfo_available(), _address_space_left(), _cgroup_left())
              if v is not None]
    return min(values) if values else None


def format_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
