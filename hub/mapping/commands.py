"""The mapping commands of the ``hub`` CLI: ``hub mappings check``, ``hub mappings producer-id``, ``hub conformance``.

They live here, beside the engine, and :mod:`hub.cli` registers them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from hub.config import get_settings
from hub.errors import HubError, MappingTemplateError

mappings_app = typer.Typer(help="Mapping templates and sender overlays.", no_args_is_help=True)
err = Console(stderr=True)


def _problems(directory: Path, extra: list[Path]) -> tuple[list[str], str]:
    """Every template and overlay problem found (file:line: reason), and a summary when there is none."""
    from hub.mapping.engine import Converter
    from hub.mapping.library import overlay_files, read_library, read_overlay

    problems: list[str] = []
    try:
        read_library(directory)
    except MappingTemplateError as exc:
        problems.append(exc.message)
    overlays = [*overlay_files(directory), *extra]
    for path in overlays:
        try:
            read_overlay(path)
        except MappingTemplateError as exc:
            problems.append(exc.message)
    if problems:
        return problems, ""
    try:
        # compiles the library, then each overlay merged over it: meaning, not only shape, is checked
        converter = Converter.load(directory, overlay_files=extra)
    except MappingTemplateError as exc:
        return [exc.message], ""
    return [], (
        f"{len(converter.structures)} message structures and {len(converter.overlays)} sender overlays: ok"
        + (f" ({', '.join(converter.overlays)})" if converter.overlays else "")
    )


@mappings_app.command("check")
def check(
    directory: Annotated[
        Path | None, typer.Argument(help="A mappings directory (default: HUB_MAPPINGS_DIR).", show_default=False)
    ] = None,
    overlay: Annotated[
        list[Path] | None, typer.Option("--overlay", help="An overlay file to check besides the directory's.")
    ] = None,
) -> None:
    """Validate every template and sender overlay; print file:line: reason for each problem, exit 1 if any."""
    root = directory or get_settings().mappings_dir
    problems, summary = _problems(Path(root), list(overlay or []))
    for problem in problems:
        typer.echo(problem, err=True)  # one line each, never wrapped: file:line: reason
    if problems:
        raise typer.Exit(code=1)
    typer.echo(f"{root}: {summary}", err=True)


@mappings_app.command("producer-id")
def producer_id(
    facility: Annotated[str, typer.Argument(help="MSH-4 as the hospital sends it, e.g. 'SZRMYY^1.2.156.1^ISO'.")],
    application: Annotated[str, typer.Option(help="MSH-3, for a sender without MSH-4.")] = "",
) -> None:
    """Print the Organization id the mapper gives a sending facility: the producer tag of what it sends (use it as
    the organisation of the hospital's clients, HUB_AUTH_CLIENTS)."""
    from hub.hl7 import er7
    from hub.mapping import get_converter

    text = f"MSH|^~\\&|{application}|{facility}|||20000101||ADT^A01^ADT_A01|ID|P|2.5.1\rPID|1||ID\rPV1|1|N\r"
    try:
        bundle = get_converter(get_settings()).convert(er7.parse(text))
    except HubError as exc:
        err.print(exc.message, markup=False, highlight=False)
        raise typer.Exit(code=1) from None
    sys.stdout.write(bundle["entry"][0]["resource"]["id"] + "\n")


def conformance(
    directory: Annotated[Path, typer.Argument(help="Messages with <stem>.expected.json beside them.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    min_score: Annotated[
        float, typer.Option("--min-score", help="Exit 1 when the overall agreement (%) is below this.")
    ] = 0.0,
    details: Annotated[bool, typer.Option("--details", help="List every disagreement.")] = False,
    timezone: Annotated[
        str | None,
        typer.Option(help="Zone of timestamps without an offset (default: MSH-7's offset, else HUB_DEFAULT_TIMEZONE)."),
    ] = None,
    differences: Annotated[
        Path | None, typer.Option(help="The documented differences (default: DIFFERENCES.md of the mappings).")
    ] = None,
) -> None:
    """Convert every message that has an expected FHIR output and compare the two field by field."""
    from hub.mapping import conformance as runner
    from hub.mapping import differences as documented
    from hub.mapping import get_converter

    settings = get_settings()
    if not directory.is_dir():
        err.print(f"{directory}: not a directory", markup=False, highlight=False)
        raise typer.Exit(code=2)
    try:
        rules = documented.load(differences or Path(settings.mappings_dir) / "DIFFERENCES.md")
        report = runner.run(
            directory,
            get_converter(settings),
            differences=rules,
            timezone=timezone,
            default_timezone=settings.default_timezone,
            default_charset=settings.default_charset,
            settings=settings,
        )
    except MappingTemplateError as exc:
        err.print(exc.message, markup=False, highlight=False)
        raise typer.Exit(code=2) from None
    if json_out:
        sys.stdout.buffer.write(orjson.dumps(report.as_json(details=True), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        console = Console()
        runner.render(report, Console(width=max(console.width, 140)), details=details)
    if report.overall.score < min_score:
        err.print(f"overall agreement {report.overall.score:.1f}% is below {min_score:.1f}%")
        raise typer.Exit(code=1)
