"""Messages as b4 / git format-patch write them: subjects, ids, threading,
cover letter, recipients, mboxrd, golden files with a fixed clock.

Regenerate the golden files with PATCHKIT_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import mailrepo
from patchkit import mail, recipients
from patchkit.errors import UserError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mail"
SENDER = "Ada Author <ada@example.org>"
DATE = datetime(2026, 6, 20, 8, 0, 0, tzinfo=timezone.utc)
SIG = "2.39.5"   # git's version footer, pinned so the goldens do not depend on the machine


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mail")
    info = mailrepo.make_repo(root)
    info["v2"] = mailrepo.make_v2(info)
    info["root"] = root
    return info


def build(tree, version=1, **kw):
    root = tree["root"] / f"s{version}-{len(kw)}"
    series = mailrepo.make_series(root, version=version, changes=kw.pop("changes", None),
                                  prefixes=kw.pop("prefixes", ()))
    tip = tree["tip"] if version == 1 else tree["v2"]
    per_patch = kw.pop("per_patch", "auto")
    if per_patch == "auto":
        per_patch = recipients.for_series(tree["repo"], tree["base"], tip)
    return mail.build_messages(tree["repo"], tree["base"], tip, series,
                               prerequisite_base=kw.pop("prerequisite_base", tree["base0"]),
                               sender=kw.pop("sender", SENDER), date=DATE,
                               per_patch_recipients=per_patch, signature=SIG, **kw)


def mbox_bytes(messages) -> bytes:
    return b"".join(mail.mboxrd_entry(m) for m in messages)


# ----------------------------------------------------------------- pure parts

@pytest.mark.parametrize("version,n,total,prefixes,expected", [
    (1, 0, 3, [], "[PATCH 0/3]"),
    (1, 2, 3, [], "[PATCH 2/3]"),
    (2, 1, 3, [], "[PATCH v2 1/3]"),
    (3, 1, 12, [], "[PATCH v3 01/12]"),
    (2, 1, 3, ["RFC"], "[RFC PATCH v2 1/3]"),
    (1, 1, 2, ["RESEND"], "[PATCH RESEND 1/2]"),
    (2, 0, 2, ["RFC", "mm-new"], "[RFC PATCH mm-new v2 0/2]"),
])
def test_subject_prefix_follows_b4_and_git(version, n, total, prefixes, expected):
    assert mail.subject_prefix(version, n, total, prefixes) == expected


def test_change_id_slug_drops_date_and_random_suffix():
    assert mail.change_id_slug("20260614-zram-swap-ops-block-register-a1b2c3d4e5f6") == \
        "zram-swap-ops-block-register"
    assert mail.change_id_slug("plain-name") == "plain-name"


def test_message_ids_are_b4_shaped_stable_and_unique_per_send():
    ids = mail.message_ids("20260614-zram-swap-ops-a1b2c3d4e5f6", 2, DATE, "example.org", 3)
    assert ids == mail.message_ids("20260614-zram-swap-ops-a1b2c3d4e5f6", 2, DATE, "example.org", 3)
    digest = ids[0].split("-")[-1].split("@")[0]
    assert ids == [f"<20260620-zram-swap-ops-v2-{i}-{digest}@example.org>" for i in range(3)]
    later = mail.message_ids("20260614-zram-swap-ops-a1b2c3d4e5f6", 2, DATE + timedelta(seconds=1),
                             "example.org", 3)
    other_version = mail.message_ids("20260614-zram-swap-ops-a1b2c3d4e5f6", 3, DATE, "example.org", 3)
    assert not set(ids) & set(later) and not set(ids) & set(other_version)


def test_format_patch_argv_keeps_subject_and_pins_the_footer():
    argv = mail.format_patch_argv("/t", "abc", "2.39.5")
    assert argv[:3] == ["git", "-C", "/t"]
    assert argv[argv.index("format-patch"):] == [
        "format-patch", "--stdout", "-1", "--keep-subject", "--no-thread", "--no-attach",
        "--no-to", "--no-cc", "--no-notes", "--no-signoff", "--find-renames",
        "--encoding=UTF-8", "--signature=2.39.5", "abc"]


def test_get_maintainer_argv_uses_b4_flags():
    assert recipients.to_argv("/k") == [
        "perl", "/k/scripts/get_maintainer.pl", "--nogit", "--nogit-fallback",
        "--nogit-chief-penguins", "--norolestats", "--nol"]
    assert recipients.cc_argv("/k")[-1] == "--nom"
    assert recipients.cc_argv("/k")[:-1] == recipients.to_argv("/k")[:-1]


@pytest.mark.parametrize("bad", ["no-at-sign", "Name <>", "a@b@c.org", "x@nodot", "<a@b.org"])
def test_unparsable_address_is_a_user_error(bad):
    with pytest.raises(UserError, match="cannot parse e-mail address"):
        mail.parse_address(bad, "series.toml to")


def test_dedup_keeps_first_spelling_and_drops_sender():
    got = mail.dedup(["A <a@x.org>", "a@X.org", "B <b@x.org>", SENDER], drop=["ada@example.org"])
    assert got == ["A <a@x.org>", "B <b@x.org>"]


# ----------------------------------------------------------------- on a repo

def test_patch_file_names_match_git_format_patch(tree, tmp_path):
    msgs = build(tree)
    written = [p.name for p in mail.write_patch_files(msgs, tmp_path / "ours")]
    subprocess.run(["git", "-C", str(tree["repo"]), "format-patch", "-q", "-o", str(tmp_path / "git"),
                    f"{tree['base']}..{tree['tip']}"], check=True)
    assert written == ["0000-cover-letter.patch", *sorted(p.name for p in (tmp_path / "git").iterdir())]
    long = "x" * 80
    assert mail.patch_filename(1, f"mm: {long}") == ("0001-mm-" + long)[:57] + ".patch"


def test_prerequisite_patch_ids_equal_git_format_patch_base(tree, tmp_path):
    out = subprocess.run(["git", "-C", str(tree["repo"]), "format-patch", "--stdout",
                          f"--base={tree['base0']}", f"{tree['base']}..{tree['tip']}"],
                         check=True, capture_output=True, text=True).stdout
    git_ids = sorted({line.split(": ")[1] for line in out.splitlines()
                      if line.startswith("prerequisite-patch-id: ")})
    assert mail.prerequisite_patch_ids(tree["repo"], tree["base0"], tree["base"]) == git_ids
    assert len(git_ids) == 1


def test_patches_reply_to_the_cover_and_dates_step_one_second(tree):
    msgs = build(tree)
    cover_id = str(msgs[0]["Message-Id"])
    assert msgs[0]["In-Reply-To"] is None
    for n, msg in enumerate(msgs):
        assert mail.email.utils.parsedate_to_datetime(str(msg["Date"])) == DATE + timedelta(seconds=n)
        if n:
            assert str(msg["In-Reply-To"]) == cover_id == str(msg["References"])
    assert [str(m["Subject"]) for m in msgs] == [
        "[PATCH 0/2] mm/zram: route block swap I/O through swap_ops",
        "[PATCH 1/2] mm/page_io: let block drivers register custom swap I/O ops",
        "[PATCH 2/2] mm/zram: handle swap read/write via swap_ops",
    ]
    assert len({str(m["Message-Id"]) for m in msgs}) == 3


def test_patch_bodies_are_format_patch_output_with_in_body_from_for_other_authors(tree):
    msgs = build(tree)
    fp = subprocess.run(["git", "-C", str(tree["repo"]), "format-patch", "--stdout", "-1",
                         "--signature=" + SIG, tree["tip"]], check=True, capture_output=True).stdout
    git_body = fp.decode().split("\n\n", 1)[1]
    assert mail.body_text(msgs[2]) == "From: Jürgen Zramm <juergen@example.org>\n\n" + git_body
    assert not mail.body_text(msgs[1]).startswith("From:")   # the sender's own patch
    assert str(msgs[2]["From"]) == SENDER


def addrs(msg, key):
    return [a.addr_spec for a in msg[key].addresses] if msg[key] else []


def test_per_patch_addressing_each_patch_its_own_list_cover_the_union(tree):
    msgs = build(tree, sender="Minchan Kim <minchan@example.org>", addressing="per-patch",
                 trailer_cc=False)
    # patch 1 touches mm/ and include/: series To + mm people; lists in Cc
    assert addrs(msgs[1], "To") == ["akpm@example.org"]
    assert addrs(msgs[1], "Cc") == ["linux-doc@lists.example.org", "linux-mm@lists.example.org",
                                    "linux-kernel@lists.example.org"]
    # patch 2 touches zram: the sender (Minchan) is dropped from its own To
    assert addrs(msgs[2], "To") == ["akpm@example.org", "senozhatsky@example.org"]
    cover_all = addrs(msgs[0], "To") + addrs(msgs[0], "Cc")
    assert len(cover_all) == len(set(cover_all))
    assert set(cover_all) == {a for m in msgs[1:] for a in addrs(m, "To") + addrs(m, "Cc")}
    assert "minchan@example.org" not in cover_all


def test_union_addressing_is_the_default_every_message_to_every_list(tree):
    msgs = build(tree, sender="Minchan Kim <minchan@example.org>", trailer_cc=False)
    # the zram reviewer sees patch 1 (the API zram uses) too, as b4 sends it
    for m in msgs:
        assert addrs(m, "To") == ["akpm@example.org", "senozhatsky@example.org"]
        assert addrs(m, "Cc") == ["linux-doc@lists.example.org", "linux-mm@lists.example.org",
                                  "linux-kernel@lists.example.org", "linux-block@lists.example.org"]


def test_trailer_people_are_cced_on_their_patch_and_the_cover(tree):
    msgs = build(tree)   # sender Ada: her own Signed-off-by is no recipient
    assert "juergen@example.org" in addrs(msgs[2], "Cc")
    assert "juergen@example.org" not in addrs(msgs[1], "Cc")
    assert "juergen@example.org" in addrs(msgs[0], "Cc")
    assert "ada@example.org" not in addrs(msgs[0], "Cc") + addrs(msgs[2], "Cc")
    quiet = build(tree, suppress_cc=["sob"])
    assert "juergen@example.org" not in addrs(quiet[2], "Cc") + addrs(quiet[0], "Cc")


def test_trailer_people_reads_only_the_last_paragraph_of_the_message():
    body = ("Fixes a thing.\n\nCc: not-a-trailer@example.org is prose here\nmore prose\n\n"
            "Reported-by: R <r@example.org>\nLink: https://example.org/x\n"
            "Signed-off-by: S <s@example.org>\nCc: c@example.org\n---\n"
            " a | 1 +\nSigned-off-by: below <b@example.org>\n")
    assert mail.trailer_people(body) == [("Reported-by", "R <r@example.org>"),
                                         ("Signed-off-by", "S <s@example.org>"), ("Cc", "c@example.org")]
    assert mail.trailer_people(body, suppress=["misc-by", "cc"]) == [("Signed-off-by", "S <s@example.org>")]


def test_x_mailer_names_patchkit_and_can_be_turned_off(tree):
    from patchkit import __version__
    msgs = build(tree)
    assert {str(m["X-Mailer"]) for m in msgs} == {f"patchkit {__version__}"}
    assert all(m["X-Mailer"] is None for m in build(tree, mailer=""))


def test_get_maintainer_failure_is_one_clear_user_error(tree, monkeypatch):
    monkeypatch.setenv("GETMAINT_FAIL", "1")
    with pytest.raises(UserError, match=r"get_maintainer.pl failed \(exit \d+\) on commit "):
        recipients.for_series(tree["repo"], tree["base"], tree["tip"])


def test_missing_get_maintainer_names_the_file(tmp_path):
    with pytest.raises(UserError, match="get_maintainer.pl does not exist"):
        recipients.for_patch(tmp_path, b"")


def test_v2_without_changelog_is_refused(tree):
    with pytest.raises(UserError, match=r"v2/version.toml: no changelog for v2"):
        build(tree, version=2)


def test_cover_template_with_unknown_variable_names_file_and_variable(tree):
    series = mailrepo.make_series(tree["root"] / "badtpl")
    (series.folder / "cover.j2").write_text("Hello {{ nosuchthing }}\n")
    with pytest.raises(UserError, match=r"cover.j2: 'nosuchthing' is undefined"):
        mail.build_messages(tree["repo"], tree["base"], tree["tip"], series, prerequisite_base=None,
                            sender=SENDER, date=DATE, signature=SIG)


def test_mbox_escapes_from_lines_mboxrd(tree):
    data = mbox_bytes(build(tree))
    assert b"\n>From this patch on" in data
    assert data.count(b"\nFrom mboxrd@z ") == 2 and data.startswith(b"From mboxrd@z ")


def test_output_is_byte_identical_across_runs(tree):
    assert mbox_bytes(build(tree)) == mbox_bytes(build(tree))


def test_cover_trailers_below_the_dashes(tree):
    body = mail.body_text(build(tree)[0])
    basement = body.split("\n---\n")[-1]
    assert basement.splitlines()[:3] == [
        f"base-commit: {tree['base0']}",
        "change-id: 20260614-zram-swap-ops-a1b2c3d4e5f6",
        f"prerequisite-patch-id: {mail.prerequisite_patch_ids(tree['repo'], tree['base0'], tree['base'])[0]}",
    ]
    body = mail.body_text(build(tree, prerequisites=[("20260520-swap-batching-6e1f2a7c9b30", 1)])[0])
    # b4's layout: the prerequisite's change-id and version, then its patch ids
    assert body.split("\n---\n")[-1].splitlines()[2:4] == [
        "prerequisite-change-id: 20260520-swap-batching-6e1f2a7c9b30:v1",
        f"prerequisite-patch-id: {mail.prerequisite_patch_ids(tree['repo'], tree['base0'], tree['base'])[0]}",
    ]
    assert " 3 files changed, 9 insertions(+), 1 deletion(-)" in body


def _golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("PATCHKIT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.is_file(), f"missing {path}: run with PATCHKIT_UPDATE_GOLDEN=1"
    assert data == path.read_bytes(), f"{path} differs: review, then PATCHKIT_UPDATE_GOLDEN=1"


def test_golden_v1(tree):
    _golden("zram-swap-ops-v1.mbox", mbox_bytes(build(tree)))


def test_golden_v2_rfc_with_changes_and_range_diff(tree):
    rdiff = mail.range_diff(tree["repo"], tree["base"], tree["tip"], tree["base"], tree["v2"])
    msgs = build(tree, version=2, prefixes=["RFC"],
                 changes={2: "- pass on a registration failure\n"},
                 range_diff=rdiff, previous_link="https://lore.kernel.org/r/v1-cover@example.org")
    body = mail.body_text(msgs[0])
    assert "Changes in v2:\n- pass on a registration failure\n- Link to v1: " in body
    assert "Range-diff versus v1:\n\n1:  " in body
    assert str(msgs[1]["Subject"]).startswith("[RFC PATCH v2 1/2] ")
    _golden("zram-swap-ops-v2-rfc.mbox", mbox_bytes(msgs))


def test_write_cover_for_render_is_the_cover_message_dated_by_the_tip(tree, tmp_path):
    from types import SimpleNamespace

    series = mailrepo.make_series(tree["root"] / "forrender")
    result = SimpleNamespace(repo=tree["repo"], base=tree["base"], tip=tree["tip"],
                             prerequisite_base=tree["base0"], series=series, author=SENDER,
                             out_dir=tmp_path / "out")
    path = mail.write_cover(result)
    assert path == tmp_path / "out" / "0000-cover-letter.patch"
    data = path.read_bytes()
    assert data == mail.write_cover(result).read_bytes()        # re-render: same bytes
    assert b"Subject: [PATCH 0/2] mm/zram: route block swap I/O through swap_ops\n" in data
    assert b"Date: Sun, 14 Jun 2026 10:03:00 +0000\n" in data   # the tip's commit date
    assert f"base-commit: {tree['base0']}\n".encode() in data


def test_write_cover_without_a_template_writes_nothing(tree, tmp_path, capsys):
    from types import SimpleNamespace

    series = mailrepo.make_series(tree["root"] / "notemplate")
    (series.folder / "cover.j2").unlink()
    result = SimpleNamespace(repo=tree["repo"], base=tree["base"], tip=tree["tip"],
                             prerequisite_base=None, series=series, author=SENDER,
                             out_dir=tmp_path / "out")
    assert mail.write_cover(result) is None
    assert not (tmp_path / "out").exists()
    assert "no cover letter: " in capsys.readouterr().err


def test_carriage_returns_and_long_lines_go_base64_and_survive_git_am(tmp_path):
    info = mailrepo.make_repo(tmp_path)
    repo = info["repo"]
    (repo / "Documentation").mkdir()
    (repo / "Documentation" / "dos.txt").write_bytes(b"line one\r\nline two\r\n" + b"x" * 1200 + b"\n")
    env = {**os.environ, **mailrepo.IDENT}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "docs: add a CRLF file\n\n"
                    "Signed-off-by: Ada Author <ada@example.org>"], check=True, env=env)
    series = mailrepo.make_series(tmp_path / "crlf")
    msgs = mail.build_messages(repo, info["tip"], "HEAD", series, prerequisite_base=None,
                               sender=SENDER, date=DATE, signature=SIG)
    assert str(msgs[1]["Content-Transfer-Encoding"]) == "base64"
    assert "line one\r\n" in mail.body_text(msgs[1])
    data = mail.message_bytes(msgs[1])
    assert b"\r" not in data and max(len(line) for line in data.split(b"\n")) <= 78
    out = mail.write_patch_files(msgs, tmp_path / "out")
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "am", info["tip"]], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "am", str(out[1])], check=True, env=env,
                   capture_output=True)
    def tree_of(rev):
        return subprocess.run(["git", "-C", str(repo), "rev-parse", f"{rev}^{{tree}}"],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert tree_of("HEAD") == tree_of("master")
