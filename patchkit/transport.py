"""Delivering mail: SMTP (smtplib) or a sendmail command, as git send-email does.

make_transport() picks one from the sendemail.* configuration;
deliver() sends each message to its envelope recipients (or, reflected, to
the sender or a preview address), calls on_sent after every delivered one
(the sent record), and on a failure says exactly which were delivered.
The SMTP password comes from $PATCHKIT_SMTP_PASS, sendemail.smtpPass or
`git credential fill`; it is never printed or logged.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path

from patchkit import git, mail, proc, ui
from patchkit.errors import CommandFailed, InfraError, Interrupted, UserError


PASSWORD_ENV = "PATCHKIT_SMTP_PASS"


def sendmail_argv(command: str, rcpts: list[str]) -> list[str]:
    """sendemail.sendmailCmd runs through the shell, as git send-email runs it."""
    return ["sh", "-c", f'{command} "$@"', command, "-i", *rcpts]


@dataclass
class SmtpTransport:
    host: str
    port: int
    encryption: str = ""          # "", "ssl" or "tls"
    user: str | None = None
    repo: Path | None = None
    cert_path: str | None = None  # sendemail.smtpSSLCertPath: CA file/dir; "" = no verification
    password: str | None = None   # sendemail.smtpPass
    auth: list[str] | None = None  # sendemail.smtpAuth: allowed mechanisms; [] = no AUTH at all
    domain: str | None = None     # sendemail.smtpDomain: the EHLO name
    timeout: float = 60.0
    _conn: smtplib.SMTP | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def open(self) -> None:
        try:
            if self.encryption == "ssl":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        local_hostname=self.domain,
                                        context=ssl_context(self.cert_path))
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout,
                                    local_hostname=self.domain)
            conn.ehlo()
            if self.encryption == "tls":
                conn.starttls(context=ssl_context(self.cert_path))
                conn.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            raise InfraError(f"cannot connect to SMTP server {self.where}: {exc}",
                             hint="check git config sendemail.smtpServer / smtpServerPort / "
                                  "smtpEncryption") from None
        self._conn = conn
        if self.user and self.auth != []:
            password = self.password or smtp_password(self.repo, self.host, self.port, self.user)
            helper = self.repo if not self.password else None  # git credential only for its own
            try:
                login(conn, self.user, password, self.auth)
            except smtplib.SMTPAuthenticationError as exc:
                credential(helper, "reject", self.host, self.port, self.user, password)
                self.close()
                raise UserError(f"SMTP server {self.where} refused the credentials of "
                                f"{self.user}: {exc.smtp_code} {_text(exc.smtp_error)}",
                                hint=f"check ${PASSWORD_ENV}, sendemail.smtpPass or your git credential helper") from None
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise InfraError(f"SMTP login to {self.where} failed: {exc}") from None
            credential(helper, "approve", self.host, self.port, self.user, password)

    def send(self, env_from: str, rcpts: list[str], data: bytes) -> None:
        if self._conn is None:
            self.open()
        options = []
        if not data.isascii() and self._conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        refused = self._conn.sendmail(env_from, rcpts, data.replace(b"\n", b"\r\n"), options)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                self._conn.close()
            self._conn = None


def ssl_context(cert_path: str | None) -> ssl.SSLContext:
    """Certificate checks as git send-email does them with smtpSSLCertPath."""
    if cert_path is None:
        return ssl.create_default_context()
    if cert_path == "":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    path = Path(cert_path).expanduser()
    if path.is_dir():
        return ssl.create_default_context(capath=str(path))
    if path.is_file():
        return ssl.create_default_context(cafile=str(path))
    raise UserError(f"sendemail.smtpSSLCertPath {cert_path!r} does not exist",
                    hint="point it at a CA file or directory, or set it to '' to skip verification")


@dataclass
class SendmailTransport:
    command: str
    where: str = "sendmail"

    def open(self) -> None:
        pass

    def send(self, env_from: str, rcpts: list[str], data: bytes) -> None:
        mail.run_bytes(sendmail_argv(self.command, rcpts), input=data, timeout=300)

    def close(self) -> None:
        pass


def make_transport(repo, config: dict):
    if config.get("sendmailcmd"):
        return SendmailTransport(config["sendmailcmd"], where=config["sendmailcmd"])
    server = config.get("smtpserver")
    if not server:
        raise UserError(f"no mail transport configured for {repo}",
                        hint="git config sendemail.smtpServer smtp.example.org "
                             "(plus smtpServerPort, smtpEncryption, smtpUser), "
                             "or git config sendemail.sendmailCmd /usr/sbin/sendmail")
    if server.startswith("/"):
        return SendmailTransport(server, where=server)
    enc = (config.get("smtpencryption") or "").lower()
    if enc not in ("", "ssl", "tls", "none"):
        raise UserError(f"sendemail.smtpEncryption {enc!r}: use ssl or tls")
    enc = "" if enc == "none" else enc
    port_text = config.get("smtpserverport") or ("465" if enc == "ssl" else "25")
    try:
        port = int(port_text)
    except ValueError:
        try:
            port = socket.getservbyname(port_text, "tcp")
        except OSError:
            raise UserError(f"sendemail.smtpServerPort {port_text!r} is no port") from None
    auth = None
    if config.get("smtpauth"):
        auth = [] if config["smtpauth"].strip().lower() == "none" else config["smtpauth"].upper().split()
    return SmtpTransport(server, port, enc, config.get("smtpuser"), Path(repo),
                         cert_path=config.get("smtpsslcertpath"),
                         password=None if os.environ.get(PASSWORD_ENV) else config.get("smtppass"),
                         auth=auth, domain=config.get("smtpdomain"))


def login(conn: smtplib.SMTP, user: str, password: str, allowed: list[str] | None = None) -> None:
    """AUTH with one mechanism (PLAIN, else LOGIN, else CRAM-MD5; only those
    in allowed, sendemail.smtpAuth, when given): a refused password is one
    clear answer, not a retry with the next mechanism."""
    if not conn.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("the server offers no AUTH")
    offered = conn.esmtp_features["auth"].upper().split()
    if allowed:
        offered = [m for m in offered if m in allowed]
    conn.user, conn.password = user, password
    for mech, initial in (("PLAIN", True), ("LOGIN", False), ("CRAM-MD5", False)):
        if mech in offered:
            method = getattr(conn, "auth_" + mech.lower().replace("-", "_"))
            code, resp = conn.auth(mech, method, initial_response_ok=initial)
            if code in (235, 503):
                return
            raise smtplib.SMTPAuthenticationError(code, resp)
    raise smtplib.SMTPNotSupportedError(f"no usable AUTH mechanism among {' '.join(offered)}")


def smtp_password(repo, host: str, port: int, user: str) -> str:
    """$PATCHKIT_SMTP_PASS, else git credential fill; never printed.
    (sendemail.smtpPass is read by make_transport, between the two.)"""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    query = f"protocol=smtp\nhost={host}:{port}\nusername={user}\n\n"
    env = {} if sys.stdin.isatty() else git.no_prompt_env()
    res = proc.run(git.credential_argv(repo, "fill"), input=query, env=env, check=False)
    for line in res.stdout.splitlines():
        if line.startswith("password="):
            return line[len("password="):]
    raise UserError(f"no SMTP password for {user} at {host}:{port}",
                    hint=f"export {PASSWORD_ENV}=..., git config sendemail.smtpPass ..., "
                         "or store it with a git credential helper")


def credential(repo, action: str, host: str, port: int, user: str, password: str) -> None:
    if repo is None or os.environ.get(PASSWORD_ENV):
        return
    query = f"protocol=smtp\nhost={host}:{port}\nusername={user}\npassword={password}\n\n"
    proc.run(git.credential_argv(repo, action), input=query, check=False)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def envelope_recipients(msg) -> list[str]:
    out = []
    for key in ("To", "Cc"):
        if msg[key]:
            out.extend(a.addr_spec for a in msg[key].addresses)
    return mail.dedup(out)


def normalize(addresses, where: str) -> list[str]:
    return [mail.format_address(*mail.parse_address(a, where)) for a in addresses]


def deliver(transport, messages, env_from: str, *, reflect_to: list[str] | None = None,
            skip=frozenset(), on_sent=None, bcc=()) -> None:
    """Send messages in order; after each one, on_sent(msgid).  A failure names
    exactly which messages went out and which did not.  bcc: envelope-only
    recipients of every message (sendemail.bcc)."""
    sent_now: list[str] = []
    plan = []
    for msg in messages:       # every message addressed before the first goes out
        rcpts = ([mail.parse_address(a)[1] for a in reflect_to] if reflect_to
                 else envelope_recipients(msg))
        if rcpts and not reflect_to:
            rcpts = mail.dedup([*rcpts, *(mail.parse_address(a)[1] for a in bcc)])
        if not rcpts:
            raise UserError(f"{msg['Subject']}: no recipients",
                            hint="add to = [...] to series.toml or pass --to")
        plan.append((msg, rcpts))
    try:
        transport.open()
        for msg, rcpts in plan:
            msgid = str(msg["Message-Id"])
            if msgid in skip:
                continue
            # Ctrl-C / SIGTERM wait until this message is delivered and recorded
            # (the transports time out), so the record always says what went out.
            with proc.signals_held():
                _send_one(transport, messages, msg, rcpts, env_from, skip, sent_now, on_sent)
            ui.info("send", f"sent {msg['Subject']}")
    except KeyboardInterrupt:
        went = len(sent_now) + len([m for m in messages if str(m["Message-Id"]) in skip])
        raise Interrupted(
            f"interrupted after {went} of {len(messages)} messages went out"
            + ("; each is recorded: run the same command again to send the rest"
               if on_sent else "")) from None
    finally:
        transport.close()


def _send_one(transport, messages, msg, rcpts, env_from, skip, sent_now, on_sent) -> None:
    msgid = str(msg["Message-Id"])
    try:
        transport.send(env_from, rcpts, mail.message_bytes(msg))
    except (OSError, smtplib.SMTPException, CommandFailed) as exc:
        raise InfraError(failure_report(transport, messages, msg, exc, skip, sent_now),
                         hint="fix the cause and run the same command again: "
                              "it sends only the messages not sent yet") from None
    sent_now.append(msgid)
    if on_sent:
        try:
            on_sent(msgid)
        except (CommandFailed, OSError) as exc:
            went = [str(m["Subject"]) for m in messages
                    if str(m["Message-Id"]) in skip or str(m["Message-Id"]) in sent_now]
            raise InfraError(
                f"{msg['Subject']} was delivered, but recording it in git failed: "
                f"{str(exc).splitlines()[0]}\n  delivered so far:\n"
                + "\n".join(f"    {s}" for s in went),
                hint="fix the repository, then record by hand or resend with a new "
                     "version: rerunning now would send these messages twice") from None


def failure_report(transport, messages, failed, exc, skip, sent_now) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        why = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        why = "recipients refused: " + ", ".join(
            f"{a} ({c} {_text(m)})" for a, (c, m) in exc.recipients.items())
    elif isinstance(exc, CommandFailed):
        err = (exc.stderr or exc.stdout).strip().splitlines()
        why = f"exit {exc.returncode}" + (f": {err[-1]}" if err else "")
    else:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lines = [f"delivery through {transport.where} failed at {failed['Subject']}: {why}"]
    went = [m for m in messages if str(m["Message-Id"]) in skip or str(m["Message-Id"]) in sent_now]
    lines.append(f"  sent ({len(went)}):" + ("" if went else " none"))
    lines += [f"    {m['Subject']}  {m['Message-Id']}" for m in went]
    rest = [m for m in messages if m not in went]
    lines.append(f"  not sent ({len(rest)}):")
    lines += [f"    {m['Subject']}  {m['Message-Id']}" for m in rest]
    return "\n".join(lines)
