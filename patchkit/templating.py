"""A series' templates as text: Jinja2 with the tree's profile.

Every diff (v<N>/<patch>/<tree>.diff or change.diff) and message.j2 is
rendered with StrictUndefined and the [names] table of the tree's profile
(templates/profiles/<tree>.toml); an undefined name or a syntax error is a
UserError naming the template's file and line.  render_message() cleans the
message as git stripspace does and adds the Signed-off-by; render_diff()
checks that every path stays inside the tree.  render.py turns the text
into commits.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import jinja2

from patchkit import paths, ui
from patchkit import series as series_mod
from patchkit.errors import UserError


def jinja_env() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_template(source: str, origin: str, variables: dict, first_line: int = 1,
                    tree_name: str = "") -> str:
    """Render Jinja2 source; errors name origin:line (first_line = its line 1)."""
    env = jinja_env()
    try:
        template = env.from_string(source)
        return template.render(variables)
    except jinja2.TemplateSyntaxError as exc:
        line = first_line + (exc.lineno or 1) - 1
        raise UserError(f"{origin}:{line}: template syntax error: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        line = first_line + _template_lineno(exc) - 1
        hint = None
        if tree_name:
            hint = (f"define it in the [names] table of "
                    f"{paths.PROFILES / (tree_name + '.toml')}")
        raise UserError(f"{origin}:{line}: {exc.message} (tree {tree_name or '?'})",
                        hint=hint) from exc
    except jinja2.TemplateError as exc:
        raise UserError(f"{origin}: template error: {exc}") from exc


def _template_lineno(exc: BaseException) -> int:
    tb = exc.__traceback__
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def load_profile(tree_name: str, profiles: Path | None = None) -> dict:
    """The [names] table of profiles/<tree_name>.toml ({} when there is none)."""
    path = (profiles or paths.PROFILES) / f"{tree_name}.toml"
    if not path.is_file():
        ui.warn("render", f"no profile {path}: templates get no tree variables")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}") from exc
    names = data.get("names", {})
    if not isinstance(names, dict):
        raise UserError(f"{path}: [names] must be a table")
    return dict(names)


def render_message(folder: Path, variables: dict, author: str, tree_name: str) -> str:
    """message.j2 rendered, cleaned like git stripspace, plus Signed-off-by."""
    path = folder / "message.j2"
    if not path.is_file():
        raise UserError(f"{folder}: no message.j2 (subject line, blank line, body)")
    text = render_template(path.read_text(), str(path), variables, tree_name=tree_name)
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    if not out:
        raise UserError(f"{path}: the message is empty")
    if len(out) > 1 and out[1] != "":
        raise UserError(f"{path}:2: the subject must be one line followed by a blank line")
    sob = f"Signed-off-by: {author}"
    if sob not in out:
        last_para = out[out.index("") + 1:] if "" in out else []
        trailers = last_para and all(re.match(r"[A-Za-z][\w-]*: ", x) for x in last_para)
        if not trailers:
            out.append("")
        out.append(sob)
    return "\n".join(out) + "\n"


def read_diff(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")


def render_diff(series: series_mod.Series, patch: str, tree_name: str,
                variables: dict) -> tuple[Path, str]:
    """(template path, rendered diff text) of one patch on one tree."""
    path = series.diff_file(patch, tree_name)
    text = render_template(read_diff(path), str(path), variables, tree_name=tree_name)
    if not re.search(r"^diff --git ", text, re.M):
        raise UserError(f"{path}: no 'diff --git' header: not a diff "
                        f"({series.label} patch {patch} on tree {tree_name})")
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"diff --git a/(\S+) b/(\S+)$|(?:---|\+\+\+) [ab]/(\S+)", line)
        for name in filter(None, m.groups() if m else ()):
            check_tree_path(name, f"{path}:{n}")
    return path, text


def check_tree_path(path: str, where: str) -> None:
    """A path a template touches must stay inside the tree: relative, no '..'."""
    parts = path.split("/")
    if (not path or path.startswith("/") or ".." in parts or "." in parts or "" in parts
            or "\\" in path or parts[0] == ".git"):
        raise UserError(f"{where}: file {path!r} is outside the tree or not a plain path",
                        hint="give the path from the tree's top folder, e.g. a/mm/page_io.c")


class TreeVars:
    """What templates see as {{ tree.name }} / {{ tree.version }}."""

    def __init__(self, tree):
        self.name = tree.name
        self.version = tree.version
