"""`chronicon-mlx doctor`: check this machine and self-test each backend offline."""

from __future__ import annotations

import json

import typer

from ..errors import EXIT_FAILURE
from . import options
from .common import handle_errors
from .render import line, stderr_console

MARKS = {
    "pass": ("PASS", "green"),
    "warn": ("WARN", "yellow"),
    "fail": ("FAIL", "red"),
    "info": ("INFO", "dim"),
}


def doctor_command(
    as_json: bool = options.flag("--json", help="Print the checks as JSON on stdout."),
    self_test: bool = typer.Option(
        True,
        "--self-test/--no-self-test",
        help="Run the offline self-test of each backend.",
        metavar="",
    ),
) -> None:
    """Check the libraries, accelerators, memory, model cache and Hub, then self-test.

    Checks Python, the libraries, the accelerators, the BLAS, memory, the Hugging Face cache
    and the Hub, then analyzes a generated clip with a tiny offline model on every installed
    backend.
    """
    from rich.console import Console

    console = stderr_console()
    out = Console(no_color=console.no_color)
    with handle_errors(console):
        from ..tools import doctor

        def show(check: doctor.Check) -> None:
            if as_json:
                return
            out.print(line(MARKS[check.status], f" {check.name:18} {check.detail}"), soft_wrap=True)
            if check.fix and check.status in ("fail", "warn"):
                out.print(line(("     " + " " * 18 + f" fix: {check.fix}", "dim")), soft_wrap=True)

        checks = doctor.run(show, self_test=self_test)
        bad = doctor.failed(checks)
        if as_json:
            data = {"ok": not bad, "checks": [c.to_dict() for c in checks]}
            typer.echo(json.dumps(data, indent=2))
        elif bad:
            out.print(line((f"{len(bad)} essential check(s) failed", "red")))
        else:
            out.print(line(("all essential checks passed", "green")))
        if bad:
            raise typer.Exit(EXIT_FAILURE)
