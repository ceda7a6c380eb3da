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
    prerequisite-change-id: <id>:v<N>   (the dependency series, as b4 writes it)
    prerequisite-patch-id: <id>         (one per patch of the dependency series)

    Best regards,
    --
    Name <addr>

Everything below the first '---' is dropped by git am and read by b4.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

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


def render_text(text: str, context: dict) -> str:
    """A version's changes text, which may say per tree what changed
    ({% if tree == ... %}), rendered with the cover's context."""
    if "{{" not in text and "{%" not in text:
        return text
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    try:
        return env.from_string(text).render(**context).strip("\n")
    except jinja2.TemplateError as exc:
        raise UserError(f"changes of v{context.get('version')}: {exc}",
                        hint="fix the Jinja2 in the version's version.toml 'changes'") from exc


def mainline_base(repo, base: str, prerequisite_base: str | None, tree, *,
                  warn: bool = False) -> str | None:
    """The base-commit a maintainer can find, for a series rendered on a
    pinned tree whose manifest names the mainline release it is
    (upstream_tag) and whose base is that tree's own commit (made here from
    the tarball, so it exists on no other machine): the tag's commit id,
    or "" (no base-commit line) while that id is not established.  None:
    name the base as it is (other trees, a checkout, --repo)."""
    from patchkit import git, ui

    manifest = getattr(tree, "manifest", None)
    if manifest is None or not getattr(manifest, "upstream_tag", ""):
        return None
    named = git.out(repo, "rev-parse", "--verify", f"{prerequisite_base or base}^{{commit}}")
    if named != tree.base_commit:
        return None
    if manifest.upstream_commit:
        return manifest.upstream_commit
    if warn:
        ui.warn("send", f"no base-commit line: {manifest.name} is mainline "
                        f"{manifest.upstream_tag}, whose commit id is not recorded "
                        f"(upstream_commit in {manifest.source}); its base {named[:12]} "
                        "exists only on this machine")
    return ""


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
                 prerequisite_patch_ids=(), prerequisite_change_ids=(), range_diff: str | None = None,
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
        "tree": "",             # the pinned tree's name, when known
    }
    ctx.update(context or {})
    body = render_template(series, ctx).strip("\n")
    parts = [body + "\n"]

    notes = []
    if version > 1:
        changelog = f"Changes in v{version}:\n{render_text(changes_text(series, version), ctx)}\n"
        if previous_link:
            changelog += f"- Link to v{version - 1}: {previous_link}\n"
        notes.append(changelog)
        if range_diff:
            notes.append(f"Range-diff versus v{version - 1}:\n\n{range_diff.rstrip()}\n")
    if notes:
        parts.append("\n".join(notes))

    parts.append(f"{shortlog.rstrip()}\n\n{diffstat.rstrip()}\n")

    # No base-commit line when the base is not a public commit (see
    # send.mainline_base): b4 then says the base is not specified.
    basement = f"base-commit: {base_commit}\n" if base_commit else ""
    basement += f"change-id: {series.change_id}\n"
    for cid in prerequisite_change_ids:
        basement += f"prerequisite-change-id: {cid}\n"
    for pid in prerequisite_patch_ids:
        basement += f"prerequisite-patch-id: {pid}\n"
    basement += f"\nBest regards,\n-- \n{sender}\n"
    parts.append(basement)
    return "\n---\n".join(parts)


def dependency_of(series, tree: str | None = None) -> tuple[str, int | None] | None:
    """(series name, version or None) the series sits on: for tree when
    given; without a tree, the one dependency its version declares (for
    every tree, or the same for each tree)."""
    dep = None
    try:
        dep = series.dependency(tree)
    except UserError:
        if tree is not None:
            raise
    if dep is None and getattr(series, "depends", None):
        dep = (series.depends, None)
    if dep is None and tree is None:
        per_tree = {t: spec for t, spec in getattr(series, "depends_on", {}).items() if spec}
        found = {series.dependency(t) for t in per_tree}
        if len(found) > 1:
            raise UserError(f"{series.label if hasattr(series, 'label') else series.name} depends on "
                            f"different series per tree ({', '.join(sorted(per_tree))})",
                            hint="name the tree: --tree NAME")
        dep = next(iter(found), None)
    return dep


def prerequisite_chain(series, tree: str | None = None) -> list:
    """Every series this one depends on, loaded at the version it names,
    deepest first (looked up beside it: templates/<depends>/)."""
    from patchkit import series as series_mod

    out = []
    seen = {series.name}
    root = Path(series.folder).parent
    current = series
    while True:
        dep = dependency_of(current, tree)
        if dep is None:
            return out
        name, version = dep
        if name in seen:
            raise UserError(f"series dependency cycle through {name!r}")
        seen.add(name)
        current = series_mod.load(name, root, version=version)
        out.insert(0, current)


def prerequisites(series, tree: str | None = None) -> list[tuple[str, int]]:
    """(change-id, version) of every series this one depends on, deepest first."""
    return [(s.change_id, s.version) for s in prerequisite_chain(series, tree)]
