"""Command line: main(argv) -> int.

Each subcommand lives in its own module, which provides
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int
    DRY_RUN: str    what the global --dry-run does for it (or that it refuses it)
add_series_argument()/series_argument() are the series positional argument
the commands that take a series share.
Errors raised below are turned into exit codes here, and only here:
  0 ok, 1 a check failed (results say which), 2 bad input (UserError),
  3 the machine or a tool failed (InfraError), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from patchkit import __version__, options, proc, ui
from patchkit.options import Options
from patchkit.errors import PatchkitError, UserError

# subcommand -> (module, one-line help)
COMMANDS = {
    "tree": ("patchkit.tree", "fetch, show or verify a pinned kernel tree"),
    "render": ("patchkit.render", "render a series onto a tree as commits and patch files"),
    "apply": ("patchkit.apply", "apply a series to your own kernel checkout"),
    "check": ("patchkit.check", "checkpatch, build and boot every patch of a series"),
    "build": ("patchkit.build", "build a kernel tree in a container (or on the host)"),
    "boot": ("patchkit.boot", "boot a built kernel under QEMU and run the guest tests"),
    "validate": ("patchkit.validate", "tree -> series -> build -> boot -> tests -> report"),
    "send": ("patchkit.send", "turn a rendered series into mail and deliver it"),
    "bench": ("patchkit.bench", "A/B performance of baseline, base layer and series"),
    "template": ("patchkit.template", "turn kernel git commits into series templates"),
    "decls": ("patchkit.decls", "compare the swap I/O declarations of two kernel trees"),
    "matrix": ("patchkit.matrix", "the whole matrix of matrix.toml: list, run, one cell, plan"),
    "ci": ("patchkit.ci", "write the GitLab CI / GitHub Actions files of the matrix"),
    "report": ("patchkit.report", "check, export (KCIDB, JUnit) or merge results.json files"),
}


DESCRIPTION = """\
Render, apply, validate, measure and mail one Linux kernel patch series
("mm/zram: route block swap I/O through swap_ops" and the swap batching
series it depends on) on a pinned kernel tree.

A series is named by its folder under templates/ (or a path to one) and is
the first positional argument of every command that takes one:
  patchkit render zram-swap-ops      commits + patch files + cover letter
  patchkit validate zram-swap-ops    build, boot under QEMU, guest swap tests
  patchkit send zram-swap-ops -o DIR mail as b4 would send it (dry run)
"""

EPILOG = """\
exit codes:
  0    everything passed
  1    a check or test failed (results.json / the table say which)
  2    bad input: unknown series, bad template, dirty checkout, bad option
  3    the machine or a tool failed: missing package, podman, QEMU, SMTP
  130  interrupted (Ctrl-C, SIGTERM)

Each stage's log starts with the command that reproduces it; COMMAND --help
says what --dry-run does for that command."""


def add_series_argument(p, *, default: str | None, what: str = "series to validate") -> None:
    """The series as a positional argument, as render/apply/check/send take it;
    --series SERIES stays as a deprecated spelling of the same thing."""
    p.add_argument("series", nargs="?", default=None, metavar="SERIES",
                   help=f"{what} (templates/<name> or a folder)"
                        + (f"; default {default}" if default else ""))
    p.add_argument("--series", dest="series_option", default=None, metavar="SERIES",
                   help="deprecated: the same as the positional SERIES")
    p.set_defaults(series_default=default)


def series_argument(args) -> str | None:
    """The series given either way; both ways at once must agree."""
    if args.series_option is not None:
        if args.series is not None and args.series != args.series_option:
            raise UserError(f"two series given: {args.series!r} and --series {args.series_option!r}",
                            hint="give the series once, as the positional argument")
        ui.warn("cli", f"--series is deprecated: write the series as a positional argument "
                       f"(patchkit {args.command} {args.series_option} ...)")
        return args.series_option
    return args.series if args.series is not None else args.series_default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchkit", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"patchkit {__version__}")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands that would run, run none (per command: see COMMAND --help)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only failures")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not built yet
        dry = getattr(module, "DRY_RUN", None) or "not supported"
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        # the global flag, also accepted after the command, with what it does here
        p.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS, help=dry)
        p.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.options = Options(dry_run=args.dry_run, quiet=args.quiet)
    try:
        with options.using(args.options), proc.sigterm_as_interrupt():
            return int(args.handler(args) or 0)
    except PatchkitError as exc:
        ui.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
