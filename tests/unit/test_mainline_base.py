"""base-commit of a series mailed from a pinned mainline tree: the tag's
public commit id when the manifest records it, no base-commit line while it
does not, never the commit patchkit made from the tarball; and a version's
changes text that differs per tree."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

import mailrepo
from patchkit import cover, mail, manifests as trees, paths
from patchkit.errors import UserError

SENDER = "Ada Author <ada@example.org>"
DATE = datetime(2026, 6, 20, 8, 0, 0, tzinfo=timezone.utc)
PUBLIC = "a90ee4305c4a5df72c11b31dacfdc76e00fcf78a"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("mainline")
    info = mailrepo.make_repo(root)
    info["root"] = root
    return info


def pinned(repo, *, tag="v9.9-rc7", commit=""):
    """A Tree whose pinned base is the repo's base (the series has no prerequisite)."""
    manifest = SimpleNamespace(name="linux-source-9.9", upstream_tag=tag, upstream_commit=commit,
                               source="kernel-fixtures/manifests/linux-source-9.9.toml")
    return SimpleNamespace(name="linux-source-9.9", base_commit=repo["base"], manifest=manifest)


def cover_basement(repo, base_commit, **kw):
    series = mailrepo.make_series(repo["root"] / f"s-{len(str(base_commit))}-{len(kw)}")
    msgs = mail.build_messages(repo["repo"], repo["base"], repo["tip"], series,
                               prerequisite_base=None, sender=SENDER, date=DATE,
                               per_patch_recipients=None, signature="2.39.5",
                               base_commit=base_commit, **kw)
    return mail.body_text(msgs[0]).split("\n---\n")[-1]


def test_recorded_tag_commit_becomes_the_base_commit(repo):
    assert cover.mainline_base(repo["repo"], repo["base"], None, pinned(repo, commit=PUBLIC)) == PUBLIC
    assert cover_basement(repo, PUBLIC).startswith(f"base-commit: {PUBLIC}\nchange-id: ")


def test_unrecorded_tag_commit_drops_the_line_and_says_why(repo, capsys):
    assert cover.mainline_base(repo["repo"], repo["base"], None, pinned(repo), warn=True) == ""
    assert "v9.9-rc7, whose commit id is not recorded" in capsys.readouterr().err
    basement = cover_basement(repo, "")
    assert "base-commit:" not in basement
    assert basement.startswith("change-id: ")
    assert repo["base"] not in basement


def test_trees_without_a_mainline_tag_and_other_bases_keep_the_rendered_base(repo):
    assert cover.mainline_base(repo["repo"], repo["base"], None, pinned(repo, tag="")) is None
    assert cover.mainline_base(repo["repo"], repo["base"], None, None) is None
    # a series on a prerequisite: its base is not the tree's commit, it stays named as it is
    assert cover.mainline_base(repo["repo"], repo["tip"], None, pinned(repo, commit=PUBLIC)) is None
    assert cover_basement(repo, None).startswith(f"base-commit: {repo['base']}\n")


def test_changes_text_renders_per_tree(repo):
    series = mailrepo.make_series(repo["root"] / "changes", version=2, changes={
        2: '{% if tree == "linux-source-6.12" %}- on the backport{% else %}- on mainline{% endif %}\n'})
    for name, line in (("linux-source-6.12", "- on the backport"), ("linux-source-7.3", "- on mainline")):
        msgs = mail.build_messages(repo["repo"], repo["base"], repo["tip"], series,
                                   prerequisite_base=None, sender=SENDER, date=DATE,
                                   per_patch_recipients=None, signature="2.39.5",
                                   cover_context={"tree": name})
        assert f"Changes in v2:\n{line}\n" in mail.body_text(msgs[0])


def test_manifest_upstream_keys_round_trip_and_a_short_commit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "MANIFESTS", tmp_path)
    m = trees.Manifest(name="linux-source-9.9", package="linux-source-9.9",
                       package_version="9.9~rc7-1", kernel_version="9.9.0-rc7",
                       tarball="/usr/src/linux-source-9.9.tar.xz", tarball_sha256="0" * 64,
                       base_commit="1" * 40, upstream_tag="v9.9-rc7", upstream_commit=PUBLIC,
                       upstream_source="the tag's push log")
    (tmp_path / "linux-source-9.9.toml").write_text(trees.dump_manifest(m))
    again = trees.load_manifest("linux-source-9.9")
    assert (again.upstream_tag, again.upstream_commit, again.upstream_source) == \
        ("v9.9-rc7", PUBLIC, "the tag's push log")
    (tmp_path / "linux-source-9.9.toml").write_text(
        trees.dump_manifest(m).replace(PUBLIC, PUBLIC[:12]))
    with pytest.raises(UserError, match="upstream_commit must be a full 40-hex commit id"):
        trees.load_manifest("linux-source-9.9")


def test_the_pinned_73_manifest_names_its_mainline_tag():
    m = trees.load_manifest("linux-source-7.3")
    assert m.upstream_tag == "v7.3-rc7"
    assert m.upstream_commit != m.base_commit
