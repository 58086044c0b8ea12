"""The server's counters, in Prometheus' text format (``GET /metrics``)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class Metrics:
    """Counters and gauges, safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.tokens: Counter[str] = Counter()
        self.batch_sizes: Counter[int] = Counter()
        self.cache: Counter[str] = Counter()
        self.gauges: dict[str, Callable[[], float]] = {}

    def request(self, path: str, status: int) -> None:
        """Count a finished request."""
        with self._lock:
            self.requests[(path, status)] += 1

    def add_tokens(self, prompt: int, cached: int, completion: int) -> None:
        """Count an answer's tokens."""
        with self._lock:
            self.tokens["prompt"] += prompt
            self.tokens["cached"] += cached
            self.tokens["completion"] += completion
            self.cache["hit" if cached else "miss"] += 1

    def batch(self, size: int) -> None:
        """Count a decode step over `size` requests."""
        with self._lock:
            self.batch_sizes[size] += 1

    def text(self) -> str:
        """Everything, as Prometheus text."""
        lines: list[str] = []
        with self._lock:
            _family(lines, "chronicon_requests_total", "counter", "HTTP requests by status.")
            for (path, status), count in sorted(self.requests.items()):
                lines.append(f'chronicon_requests_total{{path="{path}",status="{status}"}} {count}')
            _family(lines, "chronicon_tokens_total", "counter", "Tokens by kind.")
            for kind in ("prompt", "cached", "completion"):
                lines.append(f'chronicon_tokens_total{{kind="{kind}"}} {self.tokens[kind]}')
            _family(lines, "chronicon_prefix_cache_total", "counter", "Answers by prefix reuse.")
            for kind in ("hit", "miss"):
                lines.append(f'chronicon_prefix_cache_total{{result="{kind}"}} {self.cache[kind]}')
            _family(lines, "chronicon_decode_steps_total", "counter", "Decode steps by batch size.")
            for size, count in sorted(self.batch_sizes.items()):
                lines.append(f'chronicon_decode_steps_total{{batch="{size}"}} {count}')
            gauges = dict(self.gauges)
        for name, read in sorted(gauges.items()):
            _family(lines, name, "gauge", name.replace("_", " ") + ".")
            lines.append(f"{name} {read():g}")
        return "\n".join(lines) + "\n"


def _family(lines: list[str], name: str, kind: str, text: str) -> None:
    lines.append(f"# HELP {name} {text}")
    lines.append(f"# TYPE {name} {kind}")
