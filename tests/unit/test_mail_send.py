"""patchkit send end to end through cli.main, delivering through a
sendemail.sendmailCmd stand-in that files each message (SMTP is covered by
tests/integration/test_send_smtp.py)."""

from __future__ import annotations

import subprocess

import pytest

import mailrepo
from patchkit import cli, render, send, sendemail, sentrecords, transport

DATE = "2026-06-20T08:00:00+00:00"

SENDMAIL = """#!/bin/sh
n=$(ls "$MAILDIR" | wc -l)
if [ -n "$FAIL_AFTER" ] && [ "$n" -ge "$FAIL_AFTER" ]; then
    echo "sendmail: simulated failure" >&2
    exit 75
fi
{ echo "ARGS: $*"; cat; } > "$MAILDIR/$(printf %03d "$n")"
"""


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("FAIL_AFTER", raising=False)
    monkeypatch.delenv(transport.PASSWORD_ENV, raising=False)
    info = mailrepo.make_repo(tmp_path)
    mailrepo.make_series(tmp_path, version=2, changes={2: "- second take\n"})
    script = tmp_path / "sendmail"
    script.write_text(SENDMAIL)
    script.chmod(0o755)
    maildir = tmp_path / "maildir"
    maildir.mkdir()
    monkeypatch.setenv("MAILDIR", str(maildir))
    git(info["repo"], "config", "sendemail.sendmailCmd", str(script))
    info.update(root=tmp_path, maildir=maildir, series=str(tmp_path / "templates" / "zram-swap-ops"))
    return info


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def pk(tree, *extra, version="1"):
    return cli.main(["send", tree["series"], "--version", version, "--repo", str(tree["repo"]),
                     "--base", tree["base"], "--tip", tree["tip"],
                     "--prerequisite-base", tree["base0"], "--date", DATE, *extra])


def delivered(tree):
    out = []
    for f in sorted(tree["maildir"].iterdir()):
        args, _, msg = f.read_text().partition("\n")
        headers = dict(line.split(": ", 1) for line in msg.split("\n\n")[0].replace("\n ", " ").splitlines())
        out.append((args, headers))
    return out


def record_ref(version=1):
    return sentrecords.record_ref("zram-swap-ops", version)


def test_dry_run_prints_mbox_and_sends_nothing(tree, capsys):
    assert pk(tree) == 0
    out = capsys.readouterr()
    assert out.out.count("From mboxrd@z") == 3
    assert "[PATCH 2/2] mm/zram: handle swap read/write via swap_ops" in out.err
    assert list(tree["maildir"].iterdir()) == []
    assert subprocess.run(["git", "-C", str(tree["repo"]), "rev-parse", "-q", "--verify",
                           record_ref()], capture_output=True).returncode == 1


def test_output_dir_gets_patch_files_and_mbox(tree):
    assert pk(tree, "-o", str(tree["root"] / "out")) == 0
    assert sorted(p.name for p in (tree["root"] / "out").iterdir()) == [
        "0000-cover-letter.patch",
        "0001-mm-page_io-let-block-drivers-register-custom-swap-I-.patch",
        "0002-mm-zram-handle-swap-read-write-via-swap_ops.patch",
        "zram-swap-ops-v1.mbox",
    ]


def test_send_records_and_refuses_a_second_send(tree, capsys):
    assert pk(tree, "--send") == 0
    got = delivered(tree)
    assert [h["Subject"] for _, h in got] == [
        "[PATCH 0/2] mm/zram: route block swap I/O through swap_ops",
        "[PATCH 1/2] mm/page_io: let block drivers register custom swap I/O ops",
        "[PATCH 2/2] mm/zram: handle swap read/write via swap_ops",
    ]
    # every patch to the union (patch 1 also reaches the zram people), as b4
    assert got[1][0] == ("ARGS: -i akpm@example.org minchan@example.org senozhatsky@example.org "
                         "linux-doc@lists.example.org linux-mm@lists.example.org "
                         "linux-kernel@lists.example.org linux-block@lists.example.org")
    assert git(tree["repo"], "rev-parse", f"{record_ref()}^1") == tree["tip"]
    record = sentrecords.load_record(tree["repo"], "zram-swap-ops", 1)
    assert record.complete and record.sent == [h["Message-Id"] for _, h in got]

    capsys.readouterr()
    assert pk(tree, "--send") == 2
    assert "zram-swap-ops v1 was already sent on 2026-06-20T08:00:00+00:00" in capsys.readouterr().err
    assert len(delivered(tree)) == 3

    assert pk(tree, "--send", "--resend") == 2      # same --date: the same Message-IDs again
    assert "would reuse its Message-IDs" in capsys.readouterr().err
    assert pk(tree, "--send", "--resend", "--date", "2026-06-21T08:00:00+00:00") == 0
    again = delivered(tree)[3:]
    assert [h["Subject"][:20] for _, h in again] == ["[PATCH RESEND 0/2] m", "[PATCH RESEND 1/2] m",
                                                     "[PATCH RESEND 2/2] m"]
    assert not {h["Message-Id"] for _, h in again} & {h["Message-Id"] for _, h in got}
    # the earlier send stays reachable from the record
    assert len(git(tree["repo"], "log", "--format=%H", "--first-parent", f"{record_ref()}^2").split()) > 0


def test_partial_failure_says_what_went_out_and_resumes_in_order(tree, capsys, monkeypatch):
    monkeypatch.setenv("FAIL_AFTER", "2")
    assert pk(tree, "--send") == 3
    err = capsys.readouterr().err
    assert "failed at [PATCH 2/2] mm/zram: handle swap read/write via swap_ops" in err
    assert "sent (2):" in err and "not sent (1):" in err
    assert "sendmail: simulated failure" in err
    record = sentrecords.load_record(tree["repo"], "zram-swap-ops", 1)
    assert len(record.sent) == 2 and not record.complete

    monkeypatch.delenv("FAIL_AFTER")
    assert pk(tree, "--send", "--date", "2026-07-01T00:00:00+00:00") == 0   # resumes with the first date
    got = delivered(tree)
    assert [h["Subject"][:11] for _, h in got] == ["[PATCH 0/2]", "[PATCH 1/2]", "[PATCH 2/2]"]
    assert got[2][1]["In-Reply-To"] == got[0][1]["Message-Id"] == got[2][1]["References"]
    assert got[2][1]["Date"] == "Sat, 20 Jun 2026 08:00:02 +0000"
    assert sentrecords.load_record(tree["repo"], "zram-swap-ops", 1).complete


def test_partial_send_of_a_changed_series_is_refused(tree, capsys, monkeypatch):
    monkeypatch.setenv("FAIL_AFTER", "1")
    assert pk(tree, "--send") == 3
    monkeypatch.delenv("FAIL_AFTER")
    capsys.readouterr()
    assert cli.main(["send", tree["series"], "--version", "1", "--repo", str(tree["repo"]),
                     "--base", tree["base"], "--tip", tree["p1"], "--send"]) == 2
    assert "changed since it was partly sent" in capsys.readouterr().err


def test_reflect_sends_only_to_the_sender_and_records_nothing(tree):
    assert pk(tree, "--reflect") == 0
    got = delivered(tree)
    assert [a for a, _ in got] == ["ARGS: -i ada@example.org"] * 3
    assert "akpm@example.org" in got[1][1]["To"]     # headers show the real recipients
    assert sentrecords.load_record(tree["repo"], "zram-swap-ops", 1) is None


def test_no_identity_is_one_clear_error(tree, capsys):
    git(tree["repo"], "config", "--unset", "user.name")
    assert pk(tree) == 2
    assert "no author identity: user.name / user.email are not set" in capsys.readouterr().err


def test_unknown_version_is_refused(tree, capsys):
    assert pk(tree, version="7") == 2
    assert "unknown version v7 of zram-swap-ops" in capsys.readouterr().err


def test_no_transport_configured_is_refused_before_sending(tree, capsys):
    git(tree["repo"], "config", "--unset", "sendemail.sendmailCmd")
    assert pk(tree, "--send") == 2
    assert "no mail transport configured" in capsys.readouterr().err
    assert sentrecords.load_record(tree["repo"], "zram-swap-ops", 1) is None


def test_bad_address_is_refused(tree, capsys):
    assert pk(tree, "--cc", "not an address") == 2
    assert "cannot parse e-mail address 'not an address'" in capsys.readouterr().err


def test_sendmail_argv_runs_through_the_shell_like_git():
    assert transport.sendmail_argv("msmtp -a work", ["a@x.org", "b@y.org"]) == [
        "sh", "-c", 'msmtp -a work "$@"', "msmtp -a work", "-i", "a@x.org", "b@y.org"]


def test_transport_from_git_config():
    t = transport.make_transport("/r", {"smtpserver": "smtp.example.org", "smtpencryption": "ssl",
                                        "smtpuser": "ada"})
    assert (t.host, t.port, t.encryption, t.user) == ("smtp.example.org", 465, "ssl", "ada")
    t = transport.make_transport("/r", {"smtpserver": "smtp.example.org", "smtpserverport": "587",
                                        "smtpencryption": "tls"})
    assert (t.port, t.encryption) == (587, "tls")
    t = transport.make_transport("/r", {"smtpserver": "/usr/sbin/sendmail"})
    assert isinstance(t, transport.SendmailTransport) and t.command == "/usr/sbin/sendmail"


def test_v2_cover_has_changelog_link_and_range_diff_against_the_v1_branch(tree, capsys):
    assert pk(tree, "--send") == 0                  # v1 sent: its cover becomes the link
    v1_cover = sentrecords.load_record(tree["repo"], "zram-swap-ops", 1).message_ids[0].strip("<>")
    v2 = mailrepo.make_v2(tree)                     # v1 stays on patchkit/zram-swap-ops-v1
    capsys.readouterr()
    assert cli.main(["send", tree["series"], "--repo", str(tree["repo"]), "--base", tree["base"],
                     "--tip", v2, "--date", DATE]) == 0
    out = capsys.readouterr().out
    assert "Subject: [PATCH v2 0/2] mm/zram: route block swap I/O through swap_ops" in out
    assert (f"Changes in v2:\n- second take\n- Link to v1: https://lore.kernel.org/r/{v1_cover}\n"
            "\nRange-diff versus v1:\n\n1:  ") in out


def test_renderer_hook_supplies_the_rendered_series(tree, capsys, monkeypatch):
    from types import SimpleNamespace

    seen = {}

    def fake_render(args, series):
        seen["version"] = series.version
        return SimpleNamespace(repo=tree["repo"], base=tree["base"], tip=tree["tip"],
                               prerequisite_base=tree["base0"], series=series,
                               author="Ada Author <ada@example.org>")

    monkeypatch.setattr(render, "renderer_for_send", fake_render)
    assert cli.main(["send", tree["series"], "--version", "1", "--date", DATE]) == 0
    assert seen == {"version": 1}
    out = capsys.readouterr().out
    assert "Subject: [PATCH 0/2] mm/zram: route block swap I/O through swap_ops" in out
    assert f"base-commit: {tree['base0']}" in out


class FakeTransport:
    where = "fake"

    def __init__(self):
        self.sent = []

    def open(self):
        pass

    def send(self, env_from, rcpts, data):
        self.sent.append(rcpts)

    def close(self):
        pass


def test_a_failed_record_after_delivery_says_so_and_stops(tree):
    from patchkit import mail
    from patchkit.errors import CommandFailed, InfraError

    series = mailrepo.make_series(tree["root"], version=1)
    msgs = mail.build_messages(tree["repo"], tree["base"], tree["tip"], series, prerequisite_base=None,
                               sender="Ada Author <ada@example.org>",
                               date=send.parse_date(DATE), signature="2.39.5")

    def broken_record(msgid):
        raise CommandFailed(["git", "update-ref"], 128, "", "fatal: cannot lock ref")

    fake = FakeTransport()
    with pytest.raises(InfraError, match=r"0/2\] .* was delivered, but recording it in git failed") as exc:
        transport.deliver(fake, msgs, "ada@example.org", on_sent=broken_record)
    assert len(fake.sent) == 1                      # stopped right there
    assert "rerunning now would send these messages twice" in str(exc.value)


def test_a_message_without_recipients_stops_before_anything_is_sent(tree):
    from patchkit import mail
    from patchkit.errors import UserError

    series = mailrepo.make_series(tree["root"] / "norcpt", to=(), cc=())
    msgs = mail.build_messages(tree["repo"], tree["base"], tree["tip"], series, prerequisite_base=None,
                               sender="Ada Author <ada@example.org>", trailer_cc=False,
                               date=send.parse_date(DATE), signature="2.39.5")
    fake = FakeTransport()
    with pytest.raises(UserError, match=r"\[PATCH 0/2\] .*: no recipients"):
        transport.deliver(fake, msgs, "ada@example.org")
    assert fake.sent == []


def test_preview_to_delivers_only_there_and_records_nothing(tree):
    assert pk(tree, "--preview-to", "Rev Iewer <rev@example.net>", "--preview-to", "b@example.net") == 0
    assert [a for a, _ in delivered(tree)] == ["ARGS: -i rev@example.net b@example.net"] * 3
    assert sentrecords.load_record(tree["repo"], "zram-swap-ops", 1) is None


def test_sendemail_to_and_cc_from_git_config_are_added(tree):
    git(tree["repo"], "config", "--add", "sendemail.cc", "Cc One <cc1@example.net>")
    git(tree["repo"], "config", "--add", "sendemail.cc", "cc2@example.net")
    git(tree["repo"], "config", "sendemail.to", "Boss <boss@example.net>")
    assert pk(tree, "--send") == 0
    for args, headers in delivered(tree):
        assert "boss@example.net" in headers["To"]
        assert "cc1@example.net" in headers["Cc"] and "cc2@example.net" in headers["Cc"]
        assert {"boss@example.net", "cc1@example.net", "cc2@example.net"} <= set(args.split()[2:])


def test_compare_to_names_the_previous_version_as_ref_range_or_range_on_another_tree():
    assert send.parse_compare("patchkit/zram-swap-ops-v1") == (None, None, "patchkit/zram-swap-ops-v1")
    assert send.parse_compare("a..b") == (None, "a", "b")
    assert send.parse_compare("linux-source-6.12:patchkit/swap-batching-v1..patchkit/zram-swap-ops-v1") == \
        ("linux-source-6.12", "patchkit/swap-batching-v1", "patchkit/zram-swap-ops-v1")
    for bad in ("", "..b", "a..", "linux-source-6.12:tip", ":a..b"):
        with pytest.raises(send.UserError, match="--compare-to"):
            send.parse_compare(bad)
    argv = send.fetch_compare_argv(send.Path("/r"), send.Path("/t"), [("b", "refs/x/base"), ("t", "refs/x/tip")])
    assert argv == ["git", "-C", "/r", "fetch", "--quiet", "--no-tags", "/t", "+b:refs/x/base", "+t:refs/x/tip"]


def test_v2_range_diff_against_an_explicit_range_of_v1(tree, capsys):
    v2 = mailrepo.make_v2(tree)                     # v1 stays on patchkit/zram-swap-ops-v1
    capsys.readouterr()
    assert cli.main(["send", tree["series"], "--repo", str(tree["repo"]), "--base", tree["base"],
                     "--tip", v2, "--date", DATE,
                     "--compare-to", f"{tree['base']}..patchkit/zram-swap-ops-v1"]) == 0
    out = capsys.readouterr().out
    assert "\nRange-diff versus v1:\n\n1:  " in out
    assert cli.main(["send", tree["series"], "--repo", str(tree["repo"]), "--base", tree["base"],
                     "--tip", v2, "--date", DATE, "--compare-to", "nosuch..patchkit/zram-swap-ops-v1"]) == 2
    assert "'nosuch' is no commit" in capsys.readouterr().err
# ---------------------------------------------------------------- issue 19

def with_dep(tree):
    """The series on top of the swap-batching series (base0..dep) in the same templates folder."""
    mailrepo.make_series(tree["root"], version=2, changes={2: "- second take\n"}, depends="swap-batching")


def test_with_deps_sends_the_prerequisite_series_first_then_the_series(tree, capsys):
    with_dep(tree)
    assert pk(tree, "--send", "--with-deps") == 0
    got = [h for _, h in delivered(tree)]
    subjects = [h["Subject"] for h in got]
    assert subjects[0].startswith("[PATCH 0/1] mm/swap: batch block swap writes")
    assert subjects[1] == "[PATCH 1/1] mm/swap: batch block swap writes"
    assert subjects[2] == "[PATCH 0/2] mm/zram: route block swap I/O through swap_ops"
    # two threads: each series' patches reply to its own cover
    assert got[1]["In-Reply-To"] == got[0]["Message-Id"]
    assert got[3]["In-Reply-To"] == got[2]["Message-Id"]
    for v, name in ((1, "swap-batching"), (1, "zram-swap-ops")):
        assert sentrecords.load_record(tree["repo"], name, v).complete
    # a second --with-deps run skips the sent dependency, refuses the sent series
    capsys.readouterr()
    assert pk(tree, "--send", "--with-deps") == 2
    err = capsys.readouterr().err
    assert "swap-batching-v1 was already sent" in err and "zram-swap-ops v1 was already sent" in err
    assert len(delivered(tree)) == 5


def test_cover_names_the_prerequisite_by_change_id_and_patch_ids(tree, capsys):
    with_dep(tree)
    out = tree["root"] / "out"
    assert pk(tree, "--with-deps", "-o", str(out)) == 0
    cover = (out / "zram-swap-ops-v1" / "0000-cover-letter.patch").read_text()
    assert "\nprerequisite-change-id: 20260520-swap-batching-6e1f2a7c9b30:v1\nprerequisite-patch-id: " in cover
    assert f"\nbase-commit: {tree['base0']}\n" in cover
    dep_cover = (out / "swap-batching-v1" / "0000-cover-letter.patch").read_text()
    assert "prerequisite-" not in dep_cover and f"\nbase-commit: {tree['base0']}\n" in dep_cover
    assert sorted(p.name for p in out.glob("*.mbox")) == ["swap-batching-v1.mbox", "zram-swap-ops-v1.mbox"]


def test_with_deps_on_a_series_without_dependency_is_refused(tree, capsys):
    assert pk(tree, "--with-deps") == 2
    assert "depends on no other series" in capsys.readouterr().err


def test_quiet_prints_no_recipient_lines(tree, capsys):
    assert cli.main(["-q", "send", tree["series"], "--repo", str(tree["repo"]), "--base", tree["base"],
                     "--tip", tree["tip"], "--date", DATE, "-o", str(tree["root"] / "q")]) == 0
    assert capsys.readouterr().err == ""


def test_reroll_count_selects_the_version_like_git(tree, capsys):
    assert pk(tree, "-o", str(tree["root"] / "v"), version="1") == 0
    assert cli.main(["send", tree["series"], "-v", "3", "--repo", str(tree["repo"]),
                     "--base", tree["base"]]) == 2
    assert "unknown version v3" in capsys.readouterr().err
    assert cli.main(["send", tree["series"], "--reroll-count", "2", "--repo", str(tree["repo"]),
                     "--base", tree["base"], "--tip", tree["tip"], "--date", DATE,
                     "-o", str(tree["root"] / "v2")]) == 0
    assert "[PATCH v2 0/2]" in (tree["root"] / "v2" / "0000-cover-letter.patch").read_text()


def test_sendemail_identity_scoped_keys_override_the_plain_ones():
    text = ("sendemail.smtpserver\nsmtp.home.org\0sendemail.work.smtpserver\nsmtp.work.org\0"
            "sendemail.to\nplain@x.org\0sendemail.work.to\nwork1@x.org\0sendemail.work.to\nwork2@x.org\0"
            "sendemail.other.smtpuser\nnobody\0sendemail.smtpuser\nada\0")
    assert sendemail.parse_sendemail(text) == {"smtpserver": "smtp.home.org", "to": ["plain@x.org"], "cc": [],
                                               "bcc": [], "suppresscc": [], "smtpuser": "ada"}
    work = sendemail.parse_sendemail(text, "work")
    assert (work["smtpserver"], work["to"], work["smtpuser"]) == ("smtp.work.org",
                                                                  ["work1@x.org", "work2@x.org"], "ada")


def test_sendemail_identity_from_git_config_selects_the_transport(tree, capsys):
    git(tree["repo"], "config", "sendemail.identity", "work")
    git(tree["repo"], "config", "sendemail.work.sendmailCmd", tree["root"] / "nosuch")
    git(tree["repo"], "config", "sendemail.work.from", "Ada At Work <ada@work.example.org>")
    cfg = sendemail.sendemail_config(tree["repo"])
    assert cfg["sendmailcmd"].endswith("nosuch") and cfg["from"].startswith("Ada At Work")
    with pytest.raises(send.UserError, match="identity 'home' has no keys"):
        sendemail.sendemail_config(tree["repo"], "home")


def test_smtp_pass_auth_and_domain_from_config(monkeypatch):
    monkeypatch.delenv(transport.PASSWORD_ENV, raising=False)
    t = transport.make_transport("/r", {"smtpserver": "smtp.example.org", "smtpuser": "ada",
                                        "smtppass": "pw", "smtpauth": "login plain", "smtpdomain": "me.example.org"})
    assert (t.password, t.auth, t.domain) == ("pw", ["LOGIN", "PLAIN"], "me.example.org")
    assert transport.make_transport("/r", {"smtpserver": "h.example.org", "smtpauth": "none"}).auth == []
    monkeypatch.setenv(transport.PASSWORD_ENV, "env-wins")
    assert transport.make_transport("/r", {"smtpserver": "h.example.org", "smtppass": "pw"}).password is None


def test_suppress_cc_and_bcc_and_tocmd(tree):
    git(tree["repo"], "config", "--add", "sendemail.suppressCc", "sob")
    git(tree["repo"], "config", "--add", "sendemail.bcc", "archive@example.net")
    git(tree["repo"], "config", "sendemail.ccCmd", "echo extra-cc@example.net #")
    assert sendemail.suppressed_trailers(sendemail.sendemail_config(tree["repo"])) == ["sob"]
    assert pk(tree, "--send") == 0
    got = delivered(tree)
    assert all("juergen@example.org" not in h.get("Cc", "") for _, h in got)
    assert all("extra-cc@example.net" in h["Cc"] for _, h in got)
    assert all(args.endswith(" archive@example.net") for args, _ in got)      # envelope only
    assert all("archive@example.net" not in h.get("Cc", "") + h["To"] for _, h in got)


def test_no_xmailer_drops_the_header(tree):
    out = tree["root"] / "nx"
    git(tree["repo"], "config", "sendemail.xmailer", "false")
    assert pk(tree, "-o", str(out)) == 0
    assert "X-Mailer:" not in (out / "0000-cover-letter.patch").read_text()
