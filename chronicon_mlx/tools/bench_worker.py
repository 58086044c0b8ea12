"""Worker process for one benchmark trial: python -m chronicon_mlx.tools.bench_worker JOB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..files import atomic_write_text
from .bench import worker


def main() -> None:
    """Run the job given as JSON on the command line; write the result to its output."""
    job = json.loads(sys.argv[1])
    result = worker(job)
    atomic_write_text(Path(job["output"]), json.dumps(result))


if __name__ == "__main__":
    main()
