"""Facts about this machine (memory, platform, cores, GPUs) without heavy imports."""

from __future__ import annotations

import os
import platform
import shutil


def total_memory_bytes() -> int:
    """Physical memory in bytes (0 when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def is_apple_silicon() -> bool:
    """True on macOS arm64, where MLX runs on Metal."""
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def nvidia_gpu_present() -> bool:
    """A cheap look for an NVIDIA driver, without importing torch."""
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def usable_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_flags() -> frozenset[str]:
    """The instruction sets Linux says the CPU has (``avx2``, ``avx512_vnni``, ...); empty
    when they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def describe() -> str:
    """A short description of the machine: OS, architecture and memory."""
    memory = total_memory_bytes() / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {memory:.1f} GiB RAM"


def peak_resident_bytes(pid: int | str = "self") -> int:
    """A process's peak resident memory so far. On Linux its own high-water mark (VmHWM):
    `getrusage`'s maxrss also counts the parent's memory that a spawned process inherited
    before it exec'd, so a worker started by a large process would report the parent's
    size. Elsewhere (this process only) maxrss."""
    import resource
    import sys

    status = f"/proc/{pid}/status"
    if os.path.exists(status):
        with open(status, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    if pid != "self":
        return 0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def release_freed_memory() -> None:
    """Give the heap's freed pages back to the system (Linux's C library keeps what the
    load's temporaries freed otherwise); nothing elsewhere."""
    import contextlib
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def one_thread_for_torch() -> None:
    """Have torch run the calling thread's operations on that thread alone (when torch is
    loaded). torch's thread count is each thread's own: a helper thread that touches a
    tensor would start a second pool of threads, and from then on every step of the model
    thread slows down (a 256M decode step 16 ms, then 25 ms once another thread had run one
    product: EPYC Zen 4, 2 cores). Call it once the model's thread has run torch: a thread
    that first runs torch later takes the count set last, by whichever thread."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
