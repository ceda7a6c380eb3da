"""Mail for a rendered series, written the way b4 and git format-patch write it.

Input: a kernel git repo where base..tip is the series (one commit a patch)
and, optionally, prerequisite_base..base the unmerged series it depends on.
Output: a list of EmailMessage, the cover letter (0/m) first, then 1/m..m/m.

Patch bodies come verbatim from `git format-patch`, so `git am` of the mbox
reproduces the commits byte for byte.  Message bodies are kept as the exact
UTF-8 bytes git produced (held in the message as surrogate-escaped text,
which the email package writes back unchanged); message_bytes() is the one
way to turn a message into bytes, for files, mbox and SMTP alike.
"""

from __future__ import annotations

import base64
import email.generator
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from patchkit import cover as cover_mod
from patchkit import git, proc, ui
from patchkit.errors import CommandFailed, UserError


class _MailPolicy(email.policy.EmailPolicy):
    """email.policy.default, except: To/Cc carry one address a line (as git
    send-email writes them), and other headers (Subject) fold only past 998
    octets, so a long subject stays on one line."""

    def _fold(self, name, value, refold_binary=False):
        addresses = getattr(value, "addresses", None)
        if name.lower() in ("to", "cc") and addresses:
            parts = [email.utils.formataddr((a.display_name, a.addr_spec)) for a in addresses]
            return f"{name}: " + ("," + self.linesep + " ").join(parts) + self.linesep
        return super()._fold(name, value, refold_binary)


# "\n" line ends (SMTP delivery converts), 8-bit bodies left alone.
POLICY = _MailPolicy(linesep="\n", max_line_length=998, cte_type="8bit")

# git's own default (FORMAT_PATCH_NAME_MAX_DEFAULT) for patch file names.
PATCH_NAME_MAX = 64

# get through SMTP: RFC 5321 limits a line to 998 octets plus CRLF.
MAX_LINE = 998

# Config that would change what format-patch writes; pinned so the output
# only depends on the commits.


@dataclass
class Patch:
    """One commit as git format-patch renders it."""

    commit: str
    author: str          # "Name <addr>", decoded
    subject: str         # the commit's subject line, decoded, without [PATCH]
    body: str            # everything after the headers: message, ---, stat, diff, footer


@dataclass
class Recipients:
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)


# How a series is addressed: b4 sends every message to the union of all
# patches' get_maintainer lists (so the zram maintainers also see the patch
# adding the API zram uses); per-patch keeps each patch to its own list (the
# cover still gets the union).
ADDRESSING = ("union", "per-patch")

# Trailer kinds git send-email's --suppress-cc names; every other
# "Something-by:" trailer is misc-by.
TRAILER_KINDS = ("sob", "cc", "misc-by")


# --------------------------------------------------------------- addresses

def parse_address(text: str, where: str = "") -> tuple[str, str]:
    """(name, addr) of one address, or a UserError naming where it came from."""
    text = text.strip()
    name, addr = email.utils.parseaddr(text)
    if text.count("<") != text.count(">") or text.count("<") > 1:
        addr = ""
    local, _, domain = addr.partition("@")
    if (not local or not domain or "@" in domain or " " in addr or "." not in domain
            or addr.count("<") or addr.count(">")):
        src = f" (from {where})" if where else ""
        raise UserError(f"cannot parse e-mail address {text!r}{src}",
                        hint="write it as 'Full Name <user@example.org>' or 'user@example.org'")
    return name, addr


def format_address(name: str, addr: str) -> str:
    if not name:
        return addr
    if name.isascii():
        return email.utils.formataddr((name, addr))
    return f"{name} <{addr}>"


def normalize_addresses(addresses, where: str = "") -> list[str]:
    return [format_address(*parse_address(a, where)) for a in addresses]


def addr_key(address: str) -> str:
    return email.utils.parseaddr(address)[1].lower()


def dedup(addresses, *, drop=()) -> list[str]:
    """Addresses in first-seen order, each mailbox once, none of drop."""
    seen = {addr_key(a) for a in drop}
    out = []
    for a in addresses:
        key = addr_key(a)
        if key in seen:
            continue
        seen.add(key)
        out.append(a)
    return out


# ------------------------------------------------------------ argv builders

# (git.py owns them; these names are what mail's readers call)
rev_list_argv = git.rev_list_argv
format_patch_argv = git.mail_patch_argv
shortlog_argv = git.shortlog_argv
diffstat_argv = git.diffstat_argv
patch_log_argv = git.patch_log_argv
patch_id_argv = git.patch_id_argv
range_diff_argv = git.range_diff_argv


# ------------------------------------------------------------ git readers

def run_bytes(argv, *, input: bytes = b"", cwd=None, timeout=None) -> bytes:
    """proc.run for commands whose output must stay bytes (exact patch text)."""
    res = proc.run(argv, input=input, cwd=cwd, check=False, timeout=timeout)
    if res.returncode != 0:
        def text(b):
            return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
        raise CommandFailed(argv, res.returncode, text(res.stdout), text(res.stderr))
    return res.stdout if isinstance(res.stdout, bytes) else res.stdout.encode()


def git_signature() -> str:
    """The footer git writes under '-- ': its version number."""
    out = proc.run(git.version_argv()).stdout.strip()
    return out.split()[-1] if out else "git"


def series_commits(repo, base: str, tip: str) -> list[str]:
    commits = proc.run(rev_list_argv(repo, base, tip)).stdout.split()
    if not commits:
        raise UserError(f"no commits in {base}..{tip} in {repo}",
                        hint="render the series first: patchkit render SERIES")
    return commits


def trailer_people(body: str, *, suppress=()) -> list[tuple[str, str]]:
    """(trailer key, address) of each person named in the commit message's
    last paragraph (Signed-off-by, Cc, Reviewed-by, ...), as b4 send and git
    send-email Cc them on that patch.  body is format-patch's text after the
    headers; the message ends at the first '---' line.  suppress: kinds of
    TRAILER_KINDS to leave out (sendemail.suppressCc)."""
    message = body.split("\n---\n", 1)[0].rstrip("\n")
    last = message.rsplit("\n\n", 1)[-1]
    out = []
    for line in last.splitlines():
        m = re.match(r"^([A-Za-z][A-Za-z0-9-]*):\s*(.+)$", line)
        if not m:
            continue
        key, value = m[1], m[2].strip()
        kind = ("sob" if key.lower() == "signed-off-by" else "cc" if key.lower() == "cc"
                else "misc-by" if key.lower().endswith("-by") else None)
        if kind is None or kind in suppress:
            continue
        name, addr = email.utils.parseaddr(value)
        if "@" not in addr:
            continue
        out.append((key, format_address(name, addr)))
    return out


def read_patch(repo, commit: str, signature: str) -> Patch:
    text = run_bytes(format_patch_argv(repo, commit, signature)).decode("utf-8")
    head, sep, body = text.partition("\n\n")
    if not sep:
        raise UserError(f"git format-patch gave no patch for {commit}")
    # The first line is git's mbox separator "From <sha> Mon Sep 17 ..."
    head = head.split("\n", 1)[1]
    hdrs = email.parser.Parser(policy=email.policy.default).parsestr(head + "\n\n", headersonly=True)
    return Patch(commit=commit, author=str(hdrs["From"]), subject=str(hdrs["Subject"]), body=body)


def shortlog(repo, base: str, tip: str) -> str:
    return proc.run(shortlog_argv(repo, base, tip)).stdout.rstrip()


def diffstat(repo, base: str, tip: str) -> str:
    return proc.run(diffstat_argv(repo, base, tip)).stdout.rstrip()


def prerequisite_patch_ids(repo, prerequisite_base: str | None, base: str) -> list[str]:
    """`git patch-id --stable` of each commit in prerequisite_base..base, in order.

    The same ids git format-patch --base writes as prerequisite-patch-id.
    """
    if not prerequisite_base:
        return []
    log = proc.run(patch_log_argv(repo, prerequisite_base, base)).stdout
    if not log.strip():
        return []
    out = proc.run(patch_id_argv(repo), input=log).stdout
    ids = {}
    for line in out.splitlines():
        pid, commit = line.split()
        ids[commit] = pid
    order = proc.run(rev_list_argv(repo, prerequisite_base, base)).stdout.split()
    return [ids[c] for c in order if c in ids]


def range_diff(repo, old_base: str, old_tip: str, base: str, tip: str) -> str:
    return proc.run(range_diff_argv(repo, old_base, old_tip, base, tip)).stdout.rstrip()


def rev_parse(repo, rev: str) -> str:
    return git.out(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")


def rev_parse_ok(repo, rev: str) -> bool:
    return git.rev_parse(repo, rev, kind="commit") is not None


# ------------------------------------------------------------ naming

def subject_prefix(version: int, counter: int, total: int, prefixes=()) -> str:
    """'[PATCH v2 01/12]': RFC goes before PATCH (git --rfc), other prefixes
    after it (b4 --set-prefixes), v1 carries no version, the counter is
    zero-padded to the width of the total."""
    before = [p for p in prefixes if p.upper() == "RFC"]
    after = [p for p in prefixes if p.upper() not in ("RFC", "PATCH")]
    parts = [*before, "PATCH", *after]
    if version > 1:
        parts.append(f"v{version}")
    width = len(str(total))
    parts.append(f"{str(counter).zfill(width)}/{total}")
    return "[" + " ".join(parts) + "]"


def change_id_slug(change_id: str) -> str:
    """'20260614-zram-swap-ops-a1b2c3d4e5f6' -> 'zram-swap-ops' (b4's stable part
    without its date and random suffix)."""
    stable = change_id.rsplit("-", 1)[0] if re.search(r"-[0-9a-f]{6,}$", change_id) else change_id
    head, _, rest = stable.partition("-")
    if rest and len(head) == 8 and head.isdigit():
        stable = rest
    return stable


def message_ids(change_id: str, version: int, date: datetime, host: str, count: int) -> list[str]:
    """b4-style ids <YYYYMMDD-slug-vN-M-hash@host>, M = 0 for the cover.

    b4 draws the hash at random; here it is derived from the change-id,
    version and send time, so the same send is reproducible and two sends
    (a resend, another day) never collide."""
    seed = f"{change_id}\0{version}\0{date.isoformat()}".encode()
    digest = hashlib.sha256(seed).hexdigest()[:12]
    stamp = date.strftime("%Y%m%d")
    slug = change_id_slug(change_id)
    return [f"<{stamp}-{slug}-v{version}-{i}-{digest}@{host}>" for i in range(count)]


def patch_filename(counter: int, subject: str) -> str:
    """The name git format-patch gives the file: 0001-sanitized-subject.patch."""
    out = []
    space = 2
    i = 0
    subject = subject.replace("\n", " ")
    while i < len(subject):
        c = subject[i]
        if c.isascii() and (c.isalnum() or c in "._"):
            if space == 1:
                out.append("-")
            space = 0
            out.append(c)
            if c == ".":
                while i + 1 < len(subject) and subject[i + 1] == ".":
                    i += 1
        else:
            space |= 1
        i += 1
    name = "".join(out).rstrip(".-")
    stem = f"{counter:04d}-{name}"
    suffix = ".patch"
    stem = stem[: PATCH_NAME_MAX - len(suffix) - 1]
    return stem + suffix


# ------------------------------------------------------------ messages

def _escape_body(body: str) -> str:
    """Exact UTF-8 bytes as surrogate-escaped text: BytesGenerator writes them back as they were."""
    return body.encode("utf-8").decode("ascii", "surrogateescape")


def body_text(msg: email.message.EmailMessage) -> str:
    """The body as it will be sent, decoded (the email package decodes the
    surrogate-escaped bytes with the message's charset, utf-8)."""
    if str(msg["Content-Transfer-Encoding"]) == "base64":
        return msg.get_payload(decode=True).decode("utf-8")
    return msg.get_payload()


def make_message(*, sender: str, date: datetime, subject: str, msgid: str, body: str,
                 to=(), cc=(), reply_to: str | None = None,
                 extra: dict | None = None) -> email.message.EmailMessage:
    # SMTP carries neither bare carriage returns nor lines past 998 octets:
    # such a body goes base64 (git am decodes it back to the same bytes).
    raw = body.encode("utf-8")
    needs_base64 = b"\r" in raw or any(len(line) > MAX_LINE for line in raw.split(b"\n"))
    msg = email.message.EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["Date"] = email.utils.format_datetime(date)
    msg["Subject"] = subject
    msg["Message-Id"] = msgid
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = 'text/plain; charset="utf-8"'
    msg["Content-Transfer-Encoding"] = ("base64" if needs_base64
                                        else "7bit" if body.isascii() else "8bit")
    for key, value in (extra or {}).items():
        msg[key] = value
    msg.set_payload(base64.encodebytes(raw).decode("ascii") if needs_base64 else _escape_body(body))
    return msg


def message_bytes(msg: email.message.EmailMessage) -> bytes:
    fp = io.BytesIO()
    email.generator.BytesGenerator(fp, mangle_from_=False, policy=POLICY).flatten(msg)
    return fp.getvalue()


def sender_parts(sender: str) -> tuple[str, str]:
    return parse_address(sender, "the sender identity")


def addressees(per_patch_recipients, patches, *, base_to: list[str], base_cc: list[str], sender: str,
               addressing: str, trailer_cc: bool, suppress_cc) -> tuple[list, list[str], list[str]]:
    """([(to, cc) of each patch], the cover's to, the cover's cc), as build_messages
    documents: get_maintainer's lists per patch or their union, trailer people
    Cc'd, the sender never a recipient of their own mail."""
    patch_rcpts = []
    for r in per_patch_recipients:
        pto = dedup([*base_to, *normalize_addresses(r.to, "get_maintainer")], drop=[sender])
        pcc = dedup([*base_cc, *normalize_addresses(r.cc, "get_maintainer")], drop=[sender, *pto])
        patch_rcpts.append((pto, pcc))
    union_to = dedup([a for pto, _ in patch_rcpts for a in pto] or base_to, drop=[sender])
    union_cc = dedup([*base_cc, *[a for _, pcc in patch_rcpts for a in pcc]],
                     drop=[sender, *union_to])
    if addressing == "union":
        patch_rcpts = [(union_to, union_cc) for _ in patch_rcpts]
    # people in a patch's trailers: Cc on that patch, and all of them on the cover
    people = [[a for _, a in trailer_people(p.body, suppress=suppress_cc)] if trailer_cc else []
              for p in patches]
    patch_rcpts = [(pto, dedup([*pcc, *normalize_addresses(extra, "a trailer")], drop=[sender, *pto]))
                   for (pto, pcc), extra in zip(patch_rcpts, people)]
    cover_to = union_to
    cover_cc = dedup([*union_cc, *normalize_addresses([a for extra in people for a in extra], "a trailer")],
                     drop=[sender, *cover_to])
    return patch_rcpts, cover_to, cover_cc


def build_messages(repo: Path, base: str, tip: str, series, *, prerequisite_base: str | None,
                   sender: str, date: datetime, to=(), cc=(), per_patch_recipients=None,
                   range_diff: str | None = None, previous_link: str | None = None,
                   signature: str | None = None, cover_context: dict | None = None,
                   extra_prefixes=(), addressing: str = "union", trailer_cc: bool = True,
                   suppress_cc=(), prerequisites=(), mailer: str | None = None,
                   base_commit: str | None = None,
                   ) -> list[email.message.EmailMessage]:
    """The cover letter and one message per commit of base..tip, threaded.

    per_patch_recipients: one Recipients per patch (from get_maintainer),
    or None.  to/cc: series-level addresses added to every message.
    addressing: "union" (b4: every message goes to every patch's list) or
    "per-patch" (each patch to its own list; the cover to the union).
    trailer_cc: Cc the people named in a patch's trailers on that patch and
    on the cover, as b4 send and git send-email do (suppress_cc: kinds of
    TRAILER_KINDS left out).
    prerequisites: (change-id, version) of each series this one depends on,
    written as b4's prerequisite-change-id lines.
    mailer: the X-Mailer header ("" for none; default patchkit's version).
    base_commit: the cover's base-commit (default: the commit below the
    prerequisite series, or base; "": no base-commit line).
    date: the cover's Date; each patch is one second later than the one
    before it.  date must carry a timezone.
    """

    if date.tzinfo is None:
        raise ValueError("build_messages needs a timezone-aware date")
    sender_name, sender_addr = sender_parts(sender)
    sender = format_address(sender_name, sender_addr)
    host = sender_addr.split("@", 1)[1]
    signature = signature if signature is not None else git_signature()
    prefixes = [*series.prefixes, *[p for p in extra_prefixes if p not in series.prefixes]]

    commits = series_commits(repo, base, tip)
    patches = [read_patch(repo, c, signature) for c in commits]
    total = len(patches)
    if per_patch_recipients is None:
        per_patch_recipients = [Recipients() for _ in patches]
    if len(per_patch_recipients) != total:
        raise ValueError("per_patch_recipients needs one entry per patch")
    if addressing not in ADDRESSING:
        raise ValueError(f"addressing must be one of {ADDRESSING}")
    if mailer is None:
        from patchkit import __version__
        mailer = f"patchkit {__version__}"

    base_to = normalize_addresses([*series.to, *to], "the series' to / --to")
    base_cc = normalize_addresses([*series.cc, *cc], "the series' cc / --cc")

    ids = message_ids(series.change_id, series.version, date, host, total + 1)
    # base-commit names the tree to apply everything to: below the
    # prerequisite series when there is one (git format-patch --base, b4).
    # base_commit, when given, replaces it: the public commit the tree is
    # ("" leaves the line out: the base exists only in this repository).
    if base_commit is None:
        base_commit = rev_parse(repo, prerequisite_base or base)
    body = cover_mod.cover_letter(
        series,
        subjects=[p.subject for p in patches],
        shortlog=shortlog(repo, base, tip),
        diffstat=diffstat(repo, base, tip),
        base_commit=base_commit,
        prerequisite_patch_ids=prerequisite_patch_ids(repo, prerequisite_base, base),
        prerequisite_change_ids=[f"{cid}:v{ver}" for cid, ver in prerequisites],
        range_diff=range_diff,
        previous_link=previous_link,
        sender=sender,
        context=cover_context,
    )

    patch_rcpts, cover_to, cover_cc = addressees(
        per_patch_recipients, patches, base_to=base_to, base_cc=base_cc, sender=sender,
        addressing=addressing, trailer_cc=trailer_cc, suppress_cc=suppress_cc)
    mailer_header = {"X-Mailer": mailer} if mailer else {}

    messages = [make_message(
        sender=sender, date=date,
        subject=f"{subject_prefix(series.version, 0, total, prefixes)} {series.subject}",
        msgid=ids[0], body=body, to=cover_to, cc=cover_cc,
        extra={"X-Change-ID": series.change_id, **mailer_header},
    )]
    for n, (patch, (pto, pcc)) in enumerate(zip(patches, patch_rcpts), 1):
        pbody = patch.body
        author_name, author_addr = parse_address(patch.author, f"the author of {patch.commit}")
        if author_addr.lower() != sender_addr.lower():
            # Someone else's patch: keep its author for git am (as b4 and send-email do).
            pbody = f"From: {format_address(author_name, author_addr)}\n\n{pbody}"
        messages.append(make_message(
            sender=sender, date=date + timedelta(seconds=n),
            subject=f"{subject_prefix(series.version, n, total, prefixes)} {patch.subject}",
            msgid=ids[n], body=pbody, to=pto, cc=pcc, reply_to=ids[0], extra=mailer_header,
        ))
    return messages


# ------------------------------------------------------------ files

MBOXRD_FROM = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def mboxrd_entry(msg) -> bytes:
    data = message_bytes(msg)
    head, sep, body = data.partition(b"\n\n")
    body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
    data = head + sep + body
    if not data.endswith(b"\n"):
        data += b"\n"
    return MBOXRD_FROM + data + b"\n"


def write_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_mbox(messages, path) -> Path:
    """All messages, in order, as one mboxrd file (what b4 writes and git am --patch-format=mboxrd reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, b"".join(mboxrd_entry(m) for m in messages))
    return path


def message_filename(n: int, msg) -> str:
    if n == 0:
        return "0000-cover-letter.patch"
    subject = re.sub(r"^\[[^]]*\]\s*", "", str(msg["Subject"]))
    return patch_filename(n, subject)


def write_patch_files(messages, out_dir) -> list[Path]:
    """0000-cover-letter.patch, 0001-....patch: one message a file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for n, msg in enumerate(messages):
        path = out_dir / message_filename(n, msg)
        write_atomic(path, message_bytes(msg))
        written.append(path)
    return written


def write_cover(result) -> Path | None:
    """render.py's call site: <out_dir>/0000-cover-letter.patch for a RenderResult.

    The cover as `patchkit send` would mail it, addressed from the series file
    only (get_maintainer runs at send time) and dated by the tip commit, so a
    re-render writes the same bytes.  A series without a cover template gets
    no cover file here (a warning); `patchkit send` refuses it."""
    template = Path(result.series.folder) / result.series.cover
    if not template.is_file():
        ui.warn("render", f"no cover letter: {template} does not exist")
        return None

    repo = Path(result.repo)
    sender = result.author or _git_identity(repo)
    stamp = git.out(repo, "log", "-1", "--format=%cI", result.tip)
    messages = build_messages(
        repo, result.base, result.tip, result.series,
        prerequisite_base=result.prerequisite_base, sender=sender,
        date=datetime.fromisoformat(stamp),
        prerequisites=[(d.series.change_id, d.series.version)
                       for d in getattr(result, "dependencies", [])] if result.prerequisite_base else (),
        base_commit=cover_mod.mainline_base(repo, result.base, result.prerequisite_base,
                                            getattr(result, "tree", None)),
        cover_context={"tree": getattr(getattr(result, "tree", None), "name", "") or ""})
    out = Path(result.out_dir) / "0000-cover-letter.patch"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, message_bytes(messages[0]))
    return out


def _git_identity(repo: Path) -> str:
    sender = git.identity(repo, required=False)
    if not sender:
        raise UserError(f"no author identity for the cover letter: user.name / user.email unset in {repo}",
                        hint="pass --author 'Name <mail>' to patchkit render")
    return sender
