"""A small kernel-shaped git repo with a two-patch series on top of a one-patch
dependency series, made the same (same commit ids) on every run.

    base0 --- dep (prerequisite series) --- base --- p1 --- p2 (tip)
                                            ^ tip of dependency = series base

scripts/get_maintainer.pl is a stand-in that maps paths to people and lists
the way the real one does (and accepts the same flags); GETMAINT_FAIL=1 makes
it fail.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

from patchkit import series as series_mod

IDENT = {
    "GIT_AUTHOR_NAME": "Ada Author",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Author",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}

GET_MAINTAINER = r"""#!/usr/bin/perl
# Stand-in for the kernel's scripts/get_maintainer.pl (tests only).
use strict;
my ($nom, $nol) = (0, 0);
for (@ARGV) { $nom = 1 if $_ eq '--nom'; $nol = 1 if $_ eq '--nol'; }
die "get_maintainer: simulated failure\n" if $ENV{GETMAINT_FAIL};
my %people = (
    'mm/' => ['Andrew Morton <akpm@example.org>'],
    'drivers/block/zram/' => ['Minchan Kim <minchan@example.org>', 'Sergey Senozhatsky <senozhatsky@example.org>'],
);
my %lists = (
    'mm/' => ['linux-mm@lists.example.org'],
    'drivers/block/' => ['linux-block@lists.example.org'],
);
my (@out, %seen);
while (my $line = <STDIN>) {
    next unless $line =~ m{^\+\+\+ b/(\S+)};
    my $path = $1;
    for my $pfx (sort keys %people) { next if $nom; next unless index($path, $pfx) == 0;
        for (@{$people{$pfx}}) { push @out, $_ unless $seen{$_}++; } }
    for my $pfx (sort keys %lists) { next if $nol; next unless index($path, $pfx) == 0;
        for (@{$lists{$pfx}}) { push @out, $_ unless $seen{$_}++; } }
}
push @out, 'linux-kernel@lists.example.org' unless $nol;
print "$_\n" for @out;
"""

COVER_J2 = """\
This series routes {{ name }} swap I/O through swap_ops.

The first patch adds the hook; the second uses it in zram. It applies on
top of the swap batching series, named below by its patch ids.
"""


def _git(repo: Path, *args, env=None, date="2026-06-14T10:00:00+00:00"):
    full = {**os.environ, **IDENT, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", **(env or {})}
    return subprocess.run(["git", "-C", str(repo), *args], env=full, check=True,
                          capture_output=True, text=True).stdout.strip()


def _write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _commit(repo: Path, message: str, date: str, author: dict | None = None) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, env=author, date=date)
    return _git(repo, "rev-parse", "HEAD")


def make_repo(root: Path, from_line: bool = True) -> dict:
    """The repo and its named commits: base0, dep, base, p1, tip.

    from_line: patch 1's message has a line starting with "From " (mboxrd
    escaping).  b4 am -m reads a local mbox as mboxo and keeps the '>'
    of such a line, so the b4 round trip uses from_line=False."""
    repo = root / "linux"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "master")
    _git(repo, "config", "user.name", "Ada Author")
    _git(repo, "config", "user.email", "ada@example.org")
    _write(repo, "MAINTAINERS", "MEMORY MANAGEMENT\nF:\tmm/\n")
    _write(repo, "scripts/get_maintainer.pl", GET_MAINTAINER)
    (repo / "scripts/get_maintainer.pl").chmod(0o755)
    _write(repo, "mm/page_io.c", "// SPDX-License-Identifier: GPL-2.0\nint swap_readpage(void);\n")
    _write(repo, "drivers/block/zram/zram_drv.c",
           "// SPDX-License-Identifier: GPL-2.0\nstatic int zram_init(void)\n{\n\treturn 0;\n}\n")
    _write(repo, "include/linux/swap.h", "#ifndef _LINUX_SWAP_H\n#define _LINUX_SWAP_H\n#endif\n")
    base0 = _commit(repo, "linux-source-6.12 base", "2026-06-14T10:00:00+00:00")

    _write(repo, "mm/page_io.c", "// SPDX-License-Identifier: GPL-2.0\nint swap_readpage(void);\n"
           "int swap_write_batch(void);\n")
    dep = _commit(repo, "mm/swap: batch block swap writes\n\nBatch them.\n\n"
                  "Signed-off-by: Christoph Example <hch@example.org>\n",
                  "2026-06-14T10:01:00+00:00",
                  {"GIT_AUTHOR_NAME": "Christoph Example", "GIT_AUTHOR_EMAIL": "hch@example.org"})
    base = dep

    _write(repo, "include/linux/swap.h", "#ifndef _LINUX_SWAP_H\n#define _LINUX_SWAP_H\n"
           "struct swap_ops;\nint swap_register_block_ops(const struct swap_ops *ops);\n#endif\n")
    _write(repo, "mm/page_io.c", "// SPDX-License-Identifier: GPL-2.0\nint swap_readpage(void);\n"
           "int swap_write_batch(void);\n\nint swap_register_block_ops(const struct swap_ops *ops)\n"
           "{\n\treturn 0;\n}\n")
    from_text = ("From this patch on, the default path is unchanged for devices that do\n"
                 "not register (this line starts with \"From \" on purpose: mboxrd).\n")
    if not from_line:
        from_text = "The default path is unchanged for devices that do not register.\n"
    p1 = _commit(repo, textwrap.dedent("""\
        mm/page_io: let block drivers register custom swap I/O ops

        A block driver can now install its own submit_read/submit_write
        handlers for swap on its device.
        """) + from_text + "\nSigned-off-by: Ada Author <ada@example.org>\n", "2026-06-14T10:02:00+00:00")

    _write(repo, "drivers/block/zram/zram_drv.c",
           "// SPDX-License-Identifier: GPL-2.0\nstatic int zram_init(void)\n{\n"
           "\t/* register zram's swap_ops – non-ASCII in a diff */\n"
           "\treturn swap_register_block_ops(NULL);\n}\n")
    tip = _commit(repo, textwrap.dedent("""\
        mm/zram: handle swap read/write via swap_ops

        zram maps each folio to a slot and stores it without a bio.

        Signed-off-by: Jürgen Zramm <juergen@example.org>
        Signed-off-by: Ada Author <ada@example.org>
        """), "2026-06-14T10:03:00+00:00",
        {"GIT_AUTHOR_NAME": "Jürgen Zramm", "GIT_AUTHOR_EMAIL": "juergen@example.org"})
    return {"repo": repo, "base0": base0, "dep": dep, "base": base, "p1": p1, "tip": tip}


def make_series(root: Path, version: int = 1, changes: dict | None = None,
                to=("Andrew Morton <akpm@example.org>",), cc=("linux-doc@lists.example.org",),
                prefixes=(), depends: str | None = None) -> series_mod.Series:
    """templates/zram-swap-ops under root; with depends="swap-batching" it
    sits on that series (make_dep_series writes it beside)."""
    if depends:
        make_dep_series(root)
    folder = root / "templates" / "zram-swap-ops"
    folder.mkdir(parents=True, exist_ok=True)
    for v in range(1, version + 1):
        for p in ("0001-register-block-ops", "0002-zram-swap-ops"):
            (folder / f"v{v}" / p).mkdir(parents=True, exist_ok=True)
        (folder / f"v{v}" / "version.toml").write_text(
            'patches = ["0001-register-block-ops", "0002-zram-swap-ops"]\n'
            + (f'[depends]\n"linux-source-6.12" = "{depends} v1"\n' if depends else ""))
    (folder / "cover.j2").write_text(COVER_J2)
    lines = [
        'name = "zram-swap-ops"',
        'subject = "mm/zram: route block swap I/O through swap_ops"',
        'change-id = "20260614-zram-swap-ops-a1b2c3d4e5f6"',
        f"version = {version}",
        f"prefixes = {list(prefixes)!r}".replace("'", '"'),
        f"to = {list(to)!r}".replace("'", '"'),
        f"cc = {list(cc)!r}".replace("'", '"'),
    ]
    if changes:
        lines.append("[changes]")
        for k, v in changes.items():
            lines.append(f'{k} = """\n{v}"""')
    (folder / "series.toml").write_text("\n".join(lines) + "\n")
    return series_mod.load(str(folder))


def make_dep_series(root: Path) -> series_mod.Series:
    """templates/swap-batching: the one-patch series (base0..dep) the zram series depends on."""
    folder = root / "templates" / "swap-batching"
    (folder / "v1" / "0001-batch").mkdir(parents=True, exist_ok=True)
    (folder / "v1" / "version.toml").write_text('patches = ["0001-batch"]\n')
    (folder / "cover.j2").write_text("Swap writes are batched per device.\n")
    (folder / "series.toml").write_text("\n".join([
        'name = "swap-batching"',
        'subject = "mm/swap: batch block swap writes"',
        'change-id = "20260520-swap-batching-6e1f2a7c9b30"',
        "version = 1",
        'to = ["Andrew Morton <akpm@example.org>"]',
    ]) + "\n")
    return series_mod.load(str(folder))


def make_v2(info: dict) -> str:
    """A v2 of the series on the same base (patch 2 reworded and changed);
    v1 stays on branch patchkit/zram-swap-ops-v1.  Returns v2's tip."""
    repo = info["repo"]
    _git(repo, "branch", "-f", "patchkit/zram-swap-ops-v1", info["tip"])
    _git(repo, "checkout", "-q", "-b", "patchkit/zram-swap-ops-v2", info["p1"])
    _write(repo, "drivers/block/zram/zram_drv.c",
           "// SPDX-License-Identifier: GPL-2.0\nstatic int zram_init(void)\n{\n"
           "\treturn swap_register_block_ops(NULL) ?: 0;\n}\n")
    tip = _commit(repo, textwrap.dedent("""\
        mm/zram: handle swap read/write via swap_ops

        zram maps each folio to a slot and stores it without a bio; a
        registration failure is now passed on.

        Signed-off-by: Jürgen Zramm <juergen@example.org>
        Signed-off-by: Ada Author <ada@example.org>
        """), "2026-06-15T10:03:00+00:00",
        {"GIT_AUTHOR_NAME": "Jürgen Zramm", "GIT_AUTHOR_EMAIL": "juergen@example.org"})
    _git(repo, "checkout", "-q", "master")
    return tip
