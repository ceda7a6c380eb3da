"""The cover letter (0/m), laid out as b4 writes it.

    <the series' cover template, rendered>

    ---
    Changes in v2:                      (vN > 1: from the series' [changes])
    - ...
    - Link to v1: <lore link>           (when v1's send was recorded)

    Range-diff versus v1:               (when the previous version's branch exists)
    ...

    ---
    Author (2):                         (git shortlog base..tip)
          subject
    <diffstat>                          (git diff --stat --summary base..tip)
    ---
    base-commit: <sha>
    change-id: <change-id>
    prerequisite-patch-id: <id>         (one per patch of the dependency series)

    Best regards,
    --
    Name <addr>

Everything below the first '---' is dropped by git am and read by b4.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2

from patchkit import git
from patchkit.errors import UserError


def changes_text(series, version: int) -> str:
    """The series' changelog for version; a clear error when it is missing."""
    text = series.changes.get(version)
    if text is None or not str(text).strip():
        spec = series.folder / f"v{version}" / "version.toml"
        raise UserError(
            f"{spec}: no changelog for v{version}",
            hint=f"add to {spec}:\n    changes = \'\'\'\n    - what changed since v{version - 1}\n    \'\'\'",
        )
    return str(text).strip("\n")


def render_template(series, context: dict) -> str:
    """The series' cover template (Jinja2, StrictUndefined) rendered with context."""
    path = series.folder / series.cover
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(series.folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    try:
        template = env.get_template(series.cover)
        return template.render(**context)
    except jinja2.TemplateNotFound as exc:
        raise UserError(f"cover template {path} does not exist",
                        hint=f"create it or set cover = \"...\" in {series.folder / 'series.toml'}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"{path}:{exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        known = ", ".join(sorted(context))
        raise UserError(f"{path}: {exc.message}",
                        hint=f"variables a cover template can use: {known}") from exc


def cover_letter(series, *, subjects, shortlog: str, diffstat: str, base_commit: str,
                 prerequisite_patch_ids=(), range_diff: str | None = None,
                 previous_link: str | None = None, sender: str, context: dict | None = None) -> str:
    """The cover letter's body text (no headers), ending in a newline."""
    version = series.version
    ctx = {
        "series": series,
        "name": series.name,
        "subject": series.subject,
        "version": version,
        "change_id": series.change_id,
        "subjects": list(subjects),
        "base_commit": base_commit,
    }
    ctx.update(context or {})
    body = render_template(series, ctx).strip("\n")
    parts = [body + "\n"]

    notes = []
    if version > 1:
        changelog = f"Changes in v{version}:\n{changes_text(series, version)}\n"
        if previous_link:
            changelog += f"- Link to v{version - 1}: {previous_link}\n"
        notes.append(changelog)
        if range_diff:
            notes.append(f"Range-diff versus v{version - 1}:\n\n{range_diff.rstrip()}\n")
    if notes:
        parts.append("\n".join(notes))

    parts.append(f"{shortlog.rstrip()}\n\n{diffstat.rstrip()}\n")

    basement = f"base-commit: {base_commit}\nchange-id: {series.change_id}\n"
    for pid in prerequisite_patch_ids:
        basement += f"prerequisite-patch-id: {pid}\n"
    basement += f"\nBest regards,\n-- \n{sender}\n"
    parts.append(basement)
    return "\n---\n".join(parts)


def write_cover(result) -> Path | None:
    """render.py's call site: <out_dir>/0000-cover-letter.patch for a RenderResult.

    The cover as `patchkit send` would mail it, addressed from the series file
    only (get_maintainer runs at send time) and dated by the tip commit, so a
    re-render writes the same bytes.  A series without a cover template gets
    no cover file here (a warning); `patchkit send` refuses it."""
    from patchkit import mail, ui

    template = Path(result.series.folder) / result.series.cover
    if not template.is_file():
        ui.warn("render", f"no cover letter: {template} does not exist")
        return None

    repo = Path(result.repo)
    sender = result.author or _git_identity(repo)
    stamp = git.out(repo, "log", "-1", "--format=%cI", result.tip)
    messages = mail.build_messages(
        repo, result.base, result.tip, result.series,
        prerequisite_base=result.prerequisite_base, sender=sender,
        date=datetime.fromisoformat(stamp))
    out = Path(result.out_dir) / "0000-cover-letter.patch"
    out.parent.mkdir(parents=True, exist_ok=True)
    mail.write_atomic(out, mail.message_bytes(messages[0]))
    return out


def _git_identity(repo: Path) -> str:
    sender = git.identity(repo, required=False)
    if not sender:
        raise UserError(f"no author identity for the cover letter: user.name / user.email unset in {repo}",
                        hint="pass --author 'Name <mail>' to patchkit render")
    return sender
