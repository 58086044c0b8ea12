"""Print the model `make demo` should use.

The default model when it is cached or the Hub is reachable; otherwise an offline checkpoint
with random weights (said plainly on stderr).
"""

from __future__ import annotations

import socket
import sys

from chronicon_mlx.model import hub
from chronicon_mlx.model.catalog import DEFAULT_MODEL, find_spec


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when huggingface.co answers on port 443 within `timeout` seconds."""
    if hub.hub_offline():
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def main() -> None:
    """Choose and print the model."""
    spec = find_spec(DEFAULT_MODEL)
    assert spec is not None
    if any(hub.cached_path(repo) for repo in (spec.mlx_hub_id, spec.hub_id)):
        print(f"demo: using {spec.name} from the Hugging Face cache", file=sys.stderr)
        print(DEFAULT_MODEL)
        return
    if hub_reachable():
        print(f"demo: downloading {spec.name} from the Hugging Face Hub", file=sys.stderr)
        print(DEFAULT_MODEL)
        return
    print(
        f"demo: {spec.name} is not cached and the Hub is unreachable; using tiny-random, a"
        " tiny offline checkpoint with RANDOM WEIGHTS: the pipeline runs for real, but the"
        " answer is noise",
        file=sys.stderr,
    )
    print("tiny-random")


if __name__ == "__main__":
    main()
