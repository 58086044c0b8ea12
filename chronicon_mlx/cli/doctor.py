"""`chronicon-mlx doctor`: check this machine and self-test each backend offline."""

from __future__ import annotations

import json

import typer

from ..errors import EXIT_FAILURE
from .common import handle_errors
from .render import stderr_console

MARKS = {"pass": "[green]PASS[/]", "warn": "[yellow]WARN[/]", "fail": "[red]FAIL[/]",
         "info": "[dim]INFO[/]"}  # fmt: skip


def doctor_command(
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON on stdout."),
    self_test: bool = typer.Option(
        True, "--self-test/--no-self-test", help="Run the offline self-test of each backend."
    ),
) -> None:
    """Check Python, libraries, accelerators, BLAS, memory, the model cache and the Hub, then
    analyze a generated clip with a tiny offline model on every installed backend."""
    from rich.console import Console

    console = stderr_console()
    out = Console(no_color=console.no_color)
    with handle_errors(console):
        from ..tools import doctor

        def show(check: doctor.Check) -> None:
            if as_json:
                return
            line = f"{MARKS[check.status]} {check.name:18} {check.detail}"
            out.print(line, highlight=False, soft_wrap=True)
            if check.fix and check.status in ("fail", "warn"):
                out.print(f"     {'':18} [dim]fix: {check.fix}[/]", highlight=False, soft_wrap=True)

        checks = doctor.run(show, self_test=self_test)
        bad = doctor.failed(checks)
        if as_json:
            data = {"ok": not bad, "checks": [c.to_dict() for c in checks]}
            typer.echo(json.dumps(data, indent=2))
        elif bad:
            out.print(f"[red]{len(bad)} essential check(s) failed[/]")
        else:
            out.print("[green]all essential checks passed[/]")
        if bad:
            raise typer.Exit(EXIT_FAILURE)
