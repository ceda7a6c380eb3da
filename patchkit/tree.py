"""patchkit tree: the kernel trees patchkit works on, and how they stand.

open_tree() gives a pinned tree by name (fetched into the cache when
missing, pinned.py) or a user's own checkout (``--tree PATH``): its version
comes from its Makefile, its base is its HEAD, and touched_file_diffs()
names the touched files that differ from the manifest of the same kernel
line.  verify() holds a pinned tree to its manifest; pin_info() is what
results record about a tree.

Beside this module: manifests.py (what pins a tree), pinned.py (fetching,
the deterministic base commit, re-pinning), debsource.py (the Debian
package and its tarball), worktrees.py (the work trees builds and boots
read).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from patchkit import debsource, git, manifests, paths, pinned, ui
from patchkit.errors import UserError


# ---------------------------------------------------------------- opening trees

def open_tree(spec: str | None = None, *, fetch: bool = True) -> pinned.Tree:
    """None: the default pinned tree; a manifest name: that pinned tree
    (fetched when missing and fetch is true); a directory: a user checkout."""
    if spec is None:
        return pinned.open_pinned(manifests.DEFAULT_TREE, fetch=fetch)
    if os.sep not in spec and manifests.manifest_path(spec).is_file():
        return pinned.open_pinned(spec, fetch=fetch)
    path = Path(spec).expanduser()
    if path.is_dir():
        return open_checkout(path)
    if os.sep in spec or spec.startswith("."):
        raise UserError(f"{spec}: no such directory")
    manifests.load_manifest(spec)  # raises the unknown-tree error
    raise AssertionError("unreachable")


def pin_info(t: pinned.Tree) -> dict:
    """What results.json and build metadata record about a tree's pin."""
    info = {"name": t.name, "version": t.version, "base_commit": t.base_commit}
    m = getattr(t, "manifest", None)
    if m is not None:
        info["package"] = m.package
        info["pinned_version"] = m.package_version
        info["package_version"] = getattr(t, "package_version", None) or m.package_version
        if getattr(t, "note", None):
            info["note"] = t.note
    return info


def pin_of(source: Path) -> dict | None:
    """pin_info() of the pinned tree a source directory belongs to (the tree
    itself, or a work tree of its repository such as cache/worktrees/*),
    None for anything else (a user's own checkout)."""
    res = git.run(source, "rev-parse", "--path-format=absolute", "--git-common-dir",
                  check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    common = Path(res.stdout.strip()).resolve()
    trees = paths.trees_dir().resolve()
    if common.name != ".git" or common.parent.parent != trees:
        return None
    name = common.parent.name
    if not manifests.manifest_path(name).is_file():
        return None
    try:
        return pin_info(pinned.open_pinned(name, fetch=False))
    except UserError:
        return None


def open_checkout(path: Path) -> pinned.Tree:
    """A user's own kernel checkout: must be a git repository with a commit."""
    path = Path(path).expanduser().resolve()
    top = git.toplevel(path)
    if top is None:
        raise UserError(f"{path} is not a git repository",
                        hint=f"commit it first (cd {path} && git init && git add -A && "
                             f"git commit -m base) or use a pinned tree: patchkit tree fetch")
    head = git.rev_parse(top, "HEAD", kind="commit")
    if head is None:
        raise UserError(f"{top} has no commit yet", hint="commit the tree first")
    version = manifests.kernel_version(top / "Makefile")
    m = manifests.matching_manifest(version)
    # The name selects the render profile: a checkout of a pinned kernel line
    # uses that line's profile.
    name = m.name if m else f"linux-{version}"
    return pinned.Tree(path=top, name=name, version=version, base_commit=head,
                       manifest=m)


# ---------------------------------------------------------------- comparing


def touched_file_diffs(tree: pinned.Tree, manifest: manifests.Manifest) -> list[str]:
    """Touched files whose work-tree content differs from the manifest
    (a file the manifest records as absent counts when present, and the
    other way round)."""
    return manifests.file_diffs(tree.path, manifest)


def describe_diffs(tree: pinned.Tree, manifest: manifests.Manifest, diffs: list[str]) -> list[str]:
    out = []
    for p in diffs:
        have, want = manifests.hash_path(tree.path / p), manifest.files[p]
        if want == manifests.ABSENT:
            out.append(f"{p}: present, {manifest.name} does not have it")
        elif have == manifests.ABSENT:
            out.append(f"{p}: missing")
        else:
            out.append(f"{p}: sha256 {have[:16]}…, {manifest.name} has {want[:16]}…")
    return out


def verify(tree: pinned.Tree) -> list[str]:
    """Problems found (empty: the tree is what its manifest pins)."""
    m = tree.manifest
    if m is None:
        return [f"no manifest for Linux {tree.version} (known: {', '.join(manifests.manifest_names())})"]
    problems = []
    in_cache = Path(tree.path).resolve() == (paths.trees_dir() / m.name).resolve()
    if not in_cache:
        if tree.version != m.kernel_version:
            ui.info("tree", f"{tree.path} is Linux {tree.version}; comparing with {m.name} "
                            f"(Linux {m.kernel_version})")
        return [f"touched file {d}" for d in describe_diffs(tree, m, touched_file_diffs(tree, m))]
    base = tree.base_commit or m.base_commit
    if tree.note:
        ui.warn("tree", tree.note)
    else:
        host, cached = Path(m.tarball), debsource.cached_tarball(m, m.package_version)
        tarball = cached.tarball if cached else host
        if tarball.is_file():
            digest = manifests.sha256_file(tarball)
            if digest != m.tarball_sha256:
                note = debsource.version_note(m, debsource.installed_version(m.package)) if tarball == host else None
                problems.append(f"{tarball}: sha256 {digest}, expected {m.tarball_sha256}"
                                + (f" ({note})" if note else ""))
        else:
            ui.info("tree", f"neither {host} nor a downloaded copy is here: tarball hash "
                            f"not checked")
    branch = pinned.pinned_git(tree.path, "rev-parse", "--verify", "-q", f"refs/heads/{pinned.BASE_BRANCH}",
                               check=False).stdout.strip()
    if branch != base:
        problems.append(f"branch {pinned.BASE_BRANCH} is at {branch or 'nothing'}, "
                        f"expected {base}")
    committed = pinned.hashes_at(tree.path, base, sorted(m.files))
    problems += [f"{p}: committed sha256 {h}, expected {m.files[p]}"
                 for p, h in committed.items() if h != m.files[p]]
    head = pinned.pinned_git(tree.path, "rev-parse", "HEAD", check=False).stdout.strip()
    if head == base:
        problems += [f"work tree {d}" for d in describe_diffs(tree, m, touched_file_diffs(tree, m))]
    else:
        ui.info("tree", f"work tree is at {head[:12]}, not the base: hashed the base commit")
    return problems


# ---------------------------------------------------------------- maintainer: manifests


# ---------------------------------------------------------------- swap_ops base


def has_swap_ops_base(tree: pinned.Tree) -> bool:
    """Whether mainline's swap_ops base layer (Linux 7.3: include/linux/swap_ops.h
    with struct swap_ops) is in the tree's base commit, so a series for it
    needs no base-layer series below it.  Read from the commit, not the work
    tree, which a render or checkout may have moved."""
    res = git.run(tree.path, "cat-file", "blob", f"{tree.base_commit}:{manifests.SWAP_OPS_HEADER}",
                  check=False)
    return res.returncode == 0 and manifests.swap_ops_in(res.stdout)


# ---------------------------------------------------------------- CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = "fetch prints the commands it would run; show reads only; verify and manifest are refused (they need the commands' output)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help_text in (
        ("fetch", "install, check, unpack and commit a pinned tree into the cache"),
        ("show", "print a tree's version, base commit, path and manifest (no NAME: "
                 "one line per known tree)"),
        ("verify", "re-hash a tree's touched files and check its base commit"),
    ):
        p = sub.add_parser(action, help=help_text, description=help_text)
        p.add_argument("name", nargs="?", metavar="NAME",
                       help=f"pinned tree (default {manifests.DEFAULT_TREE}; known: "
                            f"{', '.join(manifests.manifest_names())})")
        if action == "fetch":
            p.add_argument("--force", action="store_true",
                           help="rebuild the cached tree even if present")
        else:
            p.add_argument("--tree", metavar="PATH", help="your own kernel checkout instead")
    p = sub.add_parser("manifest", help="(maintainers) pin a tree: recompute its manifest "
                                        "from the archive",
                       description="Recompute kernel-fixtures/manifests/NAME.toml from the "
                                   "Debian archive (the version apt would install from the "
                                   "manifest's suite, or --version) and a fresh extraction.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--suite", help="Debian suite that serves the package (default: the "
                                   "manifest's; e.g. bookworm-security, experimental)")
    p.add_argument("--version", dest="package_version", metavar="VERSION",
                   help="pin this package version (default: the suite's current one)")
    p.add_argument("--rehash", action="store_true",
                   help="keep the pin; only re-hash the touched files (the series' diffs name "
                        "new ones) from the fetched tree's base commit: no download")
    p.add_argument("--write", action="store_true", help="write the file (default: print it)")


def _selected(args) -> pinned.Tree:
    tree_path = getattr(args, "tree", None)
    if tree_path and args.name:
        raise UserError("give a tree NAME or --tree PATH, not both")
    if tree_path:
        path = Path(tree_path).expanduser()
        if not path.is_dir():
            raise UserError(f"--tree {tree_path}: no such directory")
        return open_checkout(path)
    return pinned.open_pinned(args.name or manifests.DEFAULT_TREE, fetch=False)


def run(args: argparse.Namespace) -> int:
    if args.options.dry_run and args.action in ("verify", "manifest"):
        raise UserError(f"tree {args.action} needs the output of the commands it runs: "
                        f"run it without --dry-run")
    if args.action == "fetch":
        report = pinned.fetch_tree(args.name or manifests.DEFAULT_TREE, force=args.force)
        t = report.tree
        if args.options.dry_run:
            return 0
        state = "fetched" if report.fetched else "already fetched"
        ui.info("tree", f"{t.name} {state}: {t.path} (Linux {t.version}, base {t.base_commit})")
        return 0
    if args.action == "show":
        if not args.name and not getattr(args, "tree", None):
            return _show_all()
        return _show(args)
    if args.action == "verify":
        t = _selected(args)
        problems = verify(t)
        if problems:
            ui.error(f"tree {t.name} at {t.path} does not match "
                     f"{manifests.display_path(t.manifest.source) if t.manifest else 'any manifest'}:\n"
                     + "\n".join(f"  {p}" for p in problems))
            return 1
        ui.info("tree", f"{t.name} at {t.path}: OK (Linux {t.version}, base {t.base_commit}, "
                        f"{len(t.manifest.files)} touched files match)")
        return 0
    if args.action == "manifest":
        if args.rehash:
            if args.suite or args.package_version:
                raise UserError("--rehash keeps the pin: it takes no --suite or --version")
            m = pinned.rehash_manifest(args.name, write=args.write)
        else:
            m = pinned.regenerate_manifest(args.name, write=args.write, suite=args.suite,
                                           version=args.package_version)
        if args.write:
            ui.info("tree", f"wrote {manifests.display_path(manifests.manifest_path(args.name))} (base {m.base_commit})")
        else:
            sys.stdout.write(manifests.dump_manifest(m))
        return 0
    raise UserError(f"unknown tree action {args.action}")


def _show(args) -> int:
    if getattr(args, "tree", None):
        t = _selected(args)
        rows = [("checkout", str(t.path)), ("kernel", t.version), ("HEAD", t.base_commit),
                ("manifest", manifests.display_path(t.manifest.source) if t.manifest else "none"),
                ("swap_ops base", _base_text(has_swap_ops_base(t)))]
        if t.manifest:
            diffs = touched_file_diffs(t, t.manifest)
            rows.append(("touched files", f"{len(diffs)} of {len(t.manifest.files)} differ "
                                          f"from {t.manifest.name}"))
            rows += [("", d) for d in describe_diffs(t, t.manifest, diffs)]
    else:
        m = manifests.load_manifest(args.name or manifests.DEFAULT_TREE)
        dest = paths.trees_dir() / m.name
        pkg = f"{m.package} {m.package_version}" + (f" from {m.suite}" if m.suite else "")
        host, cached = Path(m.tarball), debsource.cached_tarball(m, m.package_version)
        if cached:
            tarball = f"{cached.tarball} (downloaded)"
        elif host.is_file():
            tarball = f"{host} (on the host; used when its sha256 is the pinned one)"
        else:
            tarball = f"not here: patchkit tree fetch {m.name} downloads it"
        rows = [("tree", m.name), ("manifest", manifests.display_path(m.source)), ("package", pkg),
                ("kernel", m.kernel_version),
                ("tarball", tarball),
                ("base commit", m.base_commit),
                ("path", f"{dest} ({'fetched' if pinned.is_fetched(dest) else 'not fetched'})"),
                ("touched files", f"{len(m.files)} ({sum(h == manifests.ABSENT for h in m.files.values())} "
                                  f"absent)"),
                ("swap_ops base", _base_text(m.swap_ops_base))]
        if pinned.is_fetched(dest):
            try:
                t = pinned.open_pinned(m.name, fetch=False)
            except UserError as exc:
                rows.append(("cache", exc.msg))
            else:
                if t.note:
                    rows.append(("in use", t.note))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':' if key else '':<{width + 1}} {value}")
    return 0


def _base_text(present: bool | None) -> str:
    if present is None:
        return "unknown (manifest predates the check: patchkit tree manifest NAME --write)"
    if present:
        return f"yes ({manifests.SWAP_OPS_HEADER} has struct swap_ops): series go straight on top"
    return "no: a series needs the base-layer series (swap-batching) below it"


def _show_all() -> int:
    """One line per known tree: version, pin, fetch state, swap_ops base."""
    rows = [("TREE", "KERNEL", "PACKAGE VERSION", "SUITE", "CACHE", "SWAP_OPS BASE")]
    for m in manifests.manifests():
        dest = paths.trees_dir() / m.name
        state = "not fetched"
        if pinned.is_fetched(dest):
            try:
                t = pinned.open_pinned(m.name, fetch=False)
                state = "fetched" if not t.note else f"fetched ({t.package_version})"
            except UserError:
                state = "stale: fetch --force"
        base = {True: "yes", False: "no (needs swap-batching)", None: "unknown"}[m.swap_ops_base]
        rows.append((m.name + (" (default)" if m.name == manifests.DEFAULT_TREE else ""), m.kernel_version,
                     m.package_version, m.suite or "-", state, base))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
