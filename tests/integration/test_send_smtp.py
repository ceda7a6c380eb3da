"""Real SMTP delivery to an aiosmtpd server on 127.0.0.1 (ephemeral port):
what arrived, in which order, threaded how; a server that fails after two
messages and the resumed run; refused connections and bad credentials."""

from __future__ import annotations

import socket
import subprocess

import pytest

import mailrepo

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from patchkit import cli, sentrecords, transport

pytestmark = pytest.mark.integration

DATE = "2026-06-20T08:00:00+00:00"
PASSWORD = "s3cret-Pw-never-shown"


class Inbox:
    """Stores every message; with fail_after=N answers 451 from message N+1 on."""

    def __init__(self, fail_after: int | None = None):
        self.fail_after = fail_after
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        if self.fail_after is not None and len(self.received) >= self.fail_after:
            return "451 4.3.0 mailbox busy, try later"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"ada" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    started = []

    def start(inbox: Inbox, auth: bool = True) -> int:
        port = free_port()
        kwargs = {"authenticator": authenticator, "auth_require_tls": False} if auth else {}
        ctl = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        ctl.start()
        started.append(ctl)
        return port

    yield start
    for ctl in started:
        ctl.stop()


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv(transport.PASSWORD_ENV, PASSWORD)
    info = mailrepo.make_repo(tmp_path)
    mailrepo.make_series(tmp_path)
    info.update(root=tmp_path, series=str(tmp_path / "templates" / "zram-swap-ops"))
    return info


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True)


def configure(tree, port: int, user: str = "ada"):
    git(tree["repo"], "config", "sendemail.smtpServer", "127.0.0.1")
    git(tree["repo"], "config", "sendemail.smtpServerPort", str(port))
    git(tree["repo"], "config", "sendemail.smtpUser", user)


def pk(tree, *extra):
    return cli.main(["send", tree["series"], "--repo", str(tree["repo"]), "--base", tree["base"],
                     "--tip", tree["tip"], "--prerequisite-base", tree["base0"], "--date", DATE,
                     *extra])


def expected_files(tree) -> list[bytes]:
    """The same messages written by -o (a dry run): what must arrive, byte for byte."""
    out = tree["root"] / "expected"
    assert pk(tree, "-o", str(out)) == 0
    return [p.read_bytes() for p in sorted(out.glob("*.patch"))]


def header(raw: bytes, name: str) -> str:
    import email
    import email.policy
    return str(email.message_from_bytes(raw, policy=email.policy.default)[name])


def test_smtp_delivers_every_message_exactly_in_order_threaded(tree, server, capsys):
    inbox = Inbox()
    configure(tree, server(inbox))
    want = expected_files(tree)
    assert pk(tree, "--send") == 0
    got = [content.replace(b"\r\n", b"\n") for _, _, content in inbox.received]
    assert got == want
    assert [header(m, "Subject") for m in got] == [
        "[PATCH 0/2] mm/zram: route block swap I/O through swap_ops",
        "[PATCH 1/2] mm/page_io: let block drivers register custom swap I/O ops",
        "[PATCH 2/2] mm/zram: handle swap read/write via swap_ops",
    ]
    cover = header(got[0], "Message-Id")
    assert [header(m, "In-Reply-To") for m in got[1:]] == [cover, cover]
    assert [header(m, "References") for m in got[1:]] == [cover, cover]
    assert [env_from for env_from, _, _ in inbox.received] == ["ada@example.org"] * 3
    # the union of both patches' lists, plus the other author named in patch 2's trailers
    assert inbox.received[2][1] == ["akpm@example.org", "minchan@example.org",
                                    "senozhatsky@example.org", "linux-doc@lists.example.org",
                                    "linux-mm@lists.example.org", "linux-kernel@lists.example.org",
                                    "linux-block@lists.example.org", "juergen@example.org"]
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err


def test_server_failing_after_two_then_resume_sends_only_the_rest(tree, server, capsys):
    want = expected_files(tree)
    first = Inbox(fail_after=2)
    configure(tree, server(first))
    assert pk(tree, "--send") == 3
    err = capsys.readouterr().err
    assert "failed at [PATCH 2/2] mm/zram: handle swap read/write via swap_ops: 451 4.3.0 mailbox busy" in err
    assert "sent (2):" in err and "not sent (1):" in err
    assert PASSWORD not in err

    second = Inbox()
    configure(tree, server(second))
    assert pk(tree, "--send") == 0
    assert [c.replace(b"\r\n", b"\n") for _, _, c in first.received] == want[:2]
    assert [c.replace(b"\r\n", b"\n") for _, _, c in second.received] == want[2:]
    assert header(want[2], "In-Reply-To") == header(want[0], "Message-Id")

    assert pk(tree, "--send") == 2     # everything went out: a third run refuses
    assert "already sent" in capsys.readouterr().err


def test_bad_credentials_are_one_clear_error_and_nothing_is_recorded(tree, server, capsys, monkeypatch):
    inbox = Inbox()
    configure(tree, server(inbox))
    monkeypatch.setenv(transport.PASSWORD_ENV, "wrong-password-xyz")
    assert pk(tree, "--send") == 2
    err = capsys.readouterr().err
    assert "SMTP server 127.0.0.1:" in err and "refused the credentials of ada: 535" in err
    assert "wrong-password-xyz" not in err
    assert inbox.received == []
    assert sentrecords.load_record(tree["repo"], "zram-swap-ops", 1) is None


def test_refused_connection_is_one_clear_error(tree, capsys):
    configure(tree, free_port())
    assert pk(tree, "--send") == 3
    err = capsys.readouterr().err
    assert "cannot connect to SMTP server 127.0.0.1:" in err
    assert sentrecords.load_record(tree["repo"], "zram-swap-ops", 1) is None


def test_reflect_over_smtp_reaches_only_the_sender(tree, server):
    inbox = Inbox()
    configure(tree, server(inbox))
    assert pk(tree, "--reflect") == 0
    assert [rcpts for _, rcpts, _ in inbox.received] == [["ada@example.org"]] * 3


def test_password_from_git_credential_helper_never_shown(tree, server, capsys, monkeypatch):
    inbox = Inbox()
    configure(tree, server(inbox))
    monkeypatch.delenv(transport.PASSWORD_ENV)
    git(tree["repo"], "config", "credential.helper",
        f"!f() {{ test \"$1\" = get && echo password={PASSWORD}; }}; f")
    assert pk(tree, "--send") == 0
    assert len(inbox.received) == 3
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl CLI)."""
    import shutil
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def _tls_server(cert, inbox, *, implicit: bool):
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    port = free_port()
    if implicit:
        # aiosmtpd does not count implicit TLS as TLS for its AUTH rule
        ctl = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=ctx,
                         authenticator=authenticator, auth_require_tls=False)
    else:
        ctl = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx,
                         require_starttls=True, authenticator=authenticator)
    ctl.start()
    return ctl, port


@pytest.mark.parametrize("encryption", ["ssl", "tls"])
def test_encrypted_delivery_verifies_the_server_certificate(tree, cert, capsys, encryption):
    inbox = Inbox()
    ctl, port = _tls_server(cert, inbox, implicit=encryption == "ssl")
    try:
        configure(tree, port)
        git(tree["repo"], "config", "sendemail.smtpEncryption", encryption)
        # not trusted yet: refused before anything is sent
        assert pk(tree, "--send") == 3
        assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err
        assert inbox.received == [] and sentrecords.load_record(tree["repo"], "zram-swap-ops", 1) is None
        git(tree["repo"], "config", "sendemail.smtpSSLCertPath", str(cert[0]))
        assert pk(tree, "--send") == 0
        assert len(inbox.received) == 3
    finally:
        ctl.stop()


def test_password_from_sendemail_smtppass_under_an_identity(tree, server, capsys, monkeypatch):
    """sendemail.identity picks sendemail.<id>.* keys; its smtpPass logs in (no env, no helper)."""
    monkeypatch.delenv(transport.PASSWORD_ENV)
    inbox = Inbox()
    port = server(inbox)
    git(tree["repo"], "config", "sendemail.smtpServer", "127.0.0.1")
    git(tree["repo"], "config", "sendemail.smtpServerPort", "1")        # the plain key: wrong on purpose
    git(tree["repo"], "config", "sendemail.identity", "work")
    git(tree["repo"], "config", "sendemail.work.smtpServerPort", str(port))
    git(tree["repo"], "config", "sendemail.work.smtpUser", "ada")
    git(tree["repo"], "config", "sendemail.work.smtpPass", PASSWORD)
    git(tree["repo"], "config", "sendemail.work.smtpAuth", "LOGIN")
    assert pk(tree, "--send") == 0
    assert len(inbox.received) == 3
    assert all(b"X-Mailer: patchkit " in content for _, _, content in inbox.received)
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err
    git(tree["repo"], "config", "sendemail.work.smtpPass", "wrong")
    assert pk(tree, "--send", "--resend", "--date", "2026-06-21T08:00:00+00:00") == 2
    assert "refused the credentials of ada" in capsys.readouterr().err
