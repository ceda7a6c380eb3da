"""patchkit send: turn a rendered series into mail and (only with --send) deliver it.

Modes, safest first (b4's):
  (default)   print the messages as an mbox on stdout, send nothing
  -o DIR      write 0000-cover-letter.patch, 0001-...patch and an mbox to DIR
  --reflect   deliver every message to the sender only (headers unchanged)
  --preview-to ADDR   the same, to ADDR (a colleague) instead of the sender
  --send      deliver to the real recipients; recorded in the tree's git

Every message goes to the union of all patches' get_maintainer lists (as
b4 sends a series); --per-patch-to keeps each patch to its own list.  People
named in a patch's trailers are Cc'd on it (b4, git send-email).  --with-deps
mails the series this one depends on first, as its own thread, so everything
a maintainer needs is on the list; the series' cover names it with b4's
prerequisite-change-id and prerequisite-patch-id lines.

Delivery uses git's sendemail.* configuration of the tree, read as git
send-email reads it: sendemail.identity (or --identity) selects
sendemail.<identity>.* keys, which override sendemail.*; smtpServer,
smtpServerPort, smtpEncryption, smtpUser, smtpPass, smtpAuth, smtpDomain,
smtpSSLCertPath, from, envelopeSender, sendmailCmd, to, cc, bcc, toCmd,
ccCmd, suppressCc, signedOffByCc, xmailer.  The SMTP password comes from
$PATCHKIT_SMTP_PASS, sendemail.smtpPass or `git credential fill`; it is
never printed or logged.

What was sent is recorded per series version in the ref
refs/patchkit/sent/<series>/v<N>: a commit whose first parent is the series
tip (so the ref holds the sent commits) and whose message lists the
Message-IDs and which of them were delivered.  Sending a version again needs
--resend; after a partial failure the same command sends only the rest.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import smtplib
import socket
import ssl
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from patchkit import cover as cover_mod, git, mail, proc, recipients, series as series_mod, ui
from patchkit.errors import CommandFailed, InfraError, Interrupted, UserError

PASSWORD_ENV = "PATCHKIT_SMTP_PASS"
SENT_REF = "refs/patchkit/sent"
LORE = "https://lore.kernel.org/r/"


@dataclass
class Rendered:
    """What send needs from render: the series as commits in a kernel repo."""

    repo: Path
    base: str
    tip: str
    prerequisite_base: str | None
    series: series_mod.Series
    author: str = ""            # who rendered it: the sender when git config names nobody
    chain: list = field(default_factory=list)   # the series it depends on, deepest first
    dependencies: list = field(default_factory=list)   # those, rendered (Rendered each)
    tree: object = None         # patchkit.tree.Tree it was rendered on (None: --repo)


# A function (args, series) -> object with the fields of Rendered (render.py's
# RenderResult has them).  Unset, send uses patchkit.render.renderer_for_send
# when that exists; --repo/--base always take an already rendered series.
RENDERER: Callable[[argparse.Namespace, series_mod.Series], Rendered] | None = None


# ------------------------------------------------------------------ CLI

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'composes the messages and sends nothing, whatever --send/--reflect/--preview-to say'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("series", help="series name (templates/<name>) or folder")
    parser.add_argument("-v", "--reroll-count", "--version", dest="version", type=int, metavar="N",
                        help="series version to mail, as git format-patch -v N "
                             "(default: the series file's)")
    parser.add_argument("--tree", help="tree name or checkout to render on (default: the pinned tree)")
    where = parser.add_argument_group("an already rendered series (skips rendering)")
    where.add_argument("--repo", type=Path, help="kernel git tree holding the rendered series")
    where.add_argument("--base", help="commit the series applies to")
    where.add_argument("--tip", help="last commit of the series (default: the series' branch)")
    where.add_argument("--prerequisite-base", metavar="REV",
                       help="base of the dependency series (prerequisite-base..base); "
                            "its patches become prerequisite-patch-id lines")
    msg = parser.add_argument_group("messages")
    msg.add_argument("--from", dest="sender", metavar="ADDR",
                     help="sender (default: sendemail.from, else user.name <user.email>)")
    msg.add_argument("--to", action="append", default=[], metavar="ADDR",
                     help="add a recipient (repeatable; one value may list several, "
                          "comma-separated)")
    msg.add_argument("--cc", action="append", default=[], metavar="ADDR",
                     help="add a Cc (repeatable, comma-separated lists allowed)")
    msg.add_argument("--author", metavar="'NAME <MAIL>'",
                     help="who the rendered commits are by when send renders the series "
                          "(default: git config user.name/email)")
    msg.add_argument("--no-auto-to-cc", action="store_true",
                     help="do not ask scripts/get_maintainer.pl")
    msg.add_argument("--per-patch-to", dest="addressing", action="store_const", const="per-patch",
                     default="union",
                     help="address each patch only to its own get_maintainer list "
                          "(default: every message to the union of them, as b4)")
    msg.add_argument("--no-trailer-cc", dest="trailer_cc", action="store_false",
                     help="do not Cc the people named in each patch's trailers")
    msg.add_argument("--with-deps", action="store_true",
                     help="mail the series this one depends on first (its own thread), "
                          "then this one; a dependency already sent at the same commits is skipped")
    msg.add_argument("--identity", metavar="NAME",
                     help="use the sendemail.NAME.* keys (default: sendemail.identity)")
    msg.add_argument("--no-xmailer", dest="xmailer", action="store_false", default=None,
                     help="no X-Mailer header (also: git config sendemail.xmailer false)")
    msg.add_argument("--rfc", action="store_true", help="prefix subjects with RFC")
    msg.add_argument("--prefix", action="append", default=[], metavar="P",
                     help="extra subject prefix inside the brackets (e.g. mm-new)")
    msg.add_argument("--compare-to", metavar="REF",
                     help="previous version for the range-diff: REF, BASE..TIP, or "
                          "TREE:BASE..TIP to fetch it from another pinned tree "
                          "(default: patchkit/<series>-v<N-1> when it exists)")
    msg.add_argument("--date", metavar="ISO8601",
                     help="date of the cover letter (fixed clock; default: now)")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output-dir", type=Path, metavar="DIR",
                     help="write one file per message and an mbox")
    mode = out.add_mutually_exclusive_group()
    mode.add_argument("--reflect", action="store_true", help="deliver only to the sender")
    mode.add_argument("--preview-to", action="append", default=[], metavar="ADDR",
                      help="deliver only to ADDR (repeatable), headers unchanged")
    mode.add_argument("--send", action="store_true", help="deliver to the real recipients")
    out.add_argument("--resend", action="store_true",
                     help="send a version that was already sent (adds RESEND)")


def load_series(args) -> series_mod.Series:
    """The series at --version (default: series.toml's); every version is
    a folder v<N>/ of the series (series.load says which exist)."""
    return series_mod.load(args.series, version=args.version)


def default_renderer():
    try:
        from patchkit import render
    except ModuleNotFoundError as exc:
        if exc.name != "patchkit.render":
            raise
        return None
    return getattr(render, "renderer_for_send", None)


def rendered(args, series) -> Rendered:
    renderer = RENDERER or (None if args.repo else default_renderer())
    if renderer is not None and not args.repo:
        r = renderer(args, series)
        author = getattr(r, "author", "") or ""
        deps = [Rendered(Path(d.repo), d.base, d.tip, d.prerequisite_base, d.series,
                         getattr(d, "author", "") or author) for d in getattr(r, "dependencies", [])]
        return Rendered(Path(r.repo), r.base, r.tip, r.prerequisite_base, r.series, author,
                        chain=[d.series for d in deps], dependencies=deps,
                        tree=getattr(r, "tree", None))
    if not args.repo or not args.base:
        raise UserError("send needs the rendered series: --repo TREE --base REV [--tip REV]",
                        hint="render it first: patchkit render " + args.series)
    repo = args.repo.resolve()
    tip = args.tip or series.branch
    for rev in filter(None, (args.base, tip, args.prerequisite_base)):
        if not mail.rev_parse_ok(repo, rev):
            raise UserError(f"{rev!r} is no commit in {repo}",
                            hint=f"git -C {repo} log --oneline -5 {rev}")
    tree = args.tree if args.tree and "/" not in args.tree else None
    chain = cover_mod.prerequisite_chain(series, tree) if args.prerequisite_base else []
    return Rendered(repo, args.base, tip, args.prerequisite_base, series, chain=chain)


def split_addresses(values, option: str) -> list[str]:
    """Every address of repeated --to/--cc/--preview-to values, each value a
    comma-separated list as in a To: header ("a@b.org, Name <c@d.org>");
    a part that is no address is an error, never dropped."""
    out = []
    for value in values:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise UserError(f"{option} {value!r} has a control character")
        parts = [p for p in email.utils.getaddresses([value]) if any(p)]
        if len(parts) <= 1:
            out.append(mail.format_address(*mail.parse_address(value, option)))
            continue
        if not all(addr for _, addr in parts):
            raise UserError(f"{option} {value!r}: cannot read the addresses in it",
                            hint="'Name <user@example.org>, other@example.org'; quote a name "
                                 "with a comma: '\"Doe, John\" <jd@example.org>'")
        for name, addr in parts:
            text = mail.format_address(name, addr)
            out.append(mail.format_address(*mail.parse_address(text, option)))
    return out


def check_args(args) -> None:
    """Bad input fails before rendering or reading the repository."""
    if args.version is not None and args.version < 1:
        raise UserError(f"--version {args.version}: a version is a whole number from 1",
                        hint="leave it out to mail the version in series.toml")
    if args.output_dir is not None and args.output_dir.exists() and not args.output_dir.is_dir():
        raise UserError(f"-o {args.output_dir} is a file, not a folder",
                        hint="name a folder (it is created when missing)")
    args.to = split_addresses(args.to, "--to")
    args.cc = split_addresses(args.cc, "--cc")
    args.preview_to = split_addresses(args.preview_to, "--preview-to")
    if args.author is not None:
        from patchkit import render

        render.parse_author(args.author)


class SendLock:
    """One `send --send` of a series version at a time per repository: a
    second one started while the first runs stops before reading the record
    (which the first is still writing) and before sending anything."""

    def __init__(self, repo, name: str, version: int):
        git_dir = Path(git.out(repo, "rev-parse", "--git-common-dir"))
        if not git_dir.is_absolute():
            git_dir = Path(repo) / git_dir
        self.path = git_dir / f"patchkit-send-{name}-v{version}.lock"
        self.what = f"{name} v{version}"
        self.repo = repo
        self.fd = None

    def __enter__(self):
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise UserError(f"another patchkit send of {self.what} is running on "
                                f"{self.repo} (pid {holder})",
                                hint="wait for it to finish, then check what it sent: "
                                     f"git -C {self.repo} log -1 "
                                     f"{SENT_REF}/{self.what.replace(' ', '/')}") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)          # the holder removed it as we opened it: again
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)


def parse_date(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc).astimezone().replace(microsecond=0)
    try:
        d = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UserError(f"--date {text!r} is not an ISO 8601 date",
                        hint="e.g. --date 2026-06-14T11:35:53+00:00") from exc
    return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).replace(microsecond=0)


def run(args: argparse.Namespace) -> int:
    if proc.DRY_RUN:
        # send must read git to compose anything; the global --dry-run means
        # "change nothing", which send's default mode already is.
        proc.DRY_RUN = False
        if args.send or args.reflect or args.preview_to:
            ui.info("send", "--dry-run: composing only, nothing will be sent")
        args.send = args.reflect = False
        args.preview_to = []
    check_args(args)
    series = load_series(args)
    try:
        r = rendered(args, series)
    except KeyboardInterrupt:
        raise Interrupted("interrupted while rendering: nothing was sent or recorded") from None
    if args.send:
        with SendLock(r.repo, series.name, series.version):
            return _run(args, series, r)
    return _run(args, series, r)


def _run(args, series, r) -> int:
    chain = ([*dependencies(args, r), r] if args.with_deps else [r])
    repo = r.repo
    config = sendemail_config(repo, args.identity)
    sender = identity(repo, args.sender or None, config, fallback=r.author)
    prefixes = [*(["RFC"] if args.rfc else []), *args.prefix]
    date = parse_date(args.date)
    deliver_mode = args.send or args.reflect or args.preview_to

    jobs = []
    try:
        for item in chain:
            main = item is r
            job = plan(args, item, sender, date, prefixes, config, main=main)
            if job is None:
                continue
            jobs.append(job)
            date = date + timedelta(seconds=len(job.messages))  # the next thread after this one
    except KeyboardInterrupt:
        raise Interrupted("interrupted while composing: nothing was sent, written or "
                          "recorded") from None

    for job in jobs:
        show_summary(job.messages)
    if args.output_dir:
        for job in jobs:
            folder = args.output_dir / job.label if len(chain) > 1 else args.output_dir
            files = mail.write_patch_files(job.messages, folder)
            mbox = mail.write_mbox(job.messages, args.output_dir / f"{job.label}.mbox")
            ui.info("send", f"wrote {len(files)} messages to {folder} and {mbox.name}")
    if not deliver_mode:
        if not args.output_dir:
            sys.stdout.buffer.write(b"".join(mail.mboxrd_entry(m) for job in jobs for m in job.messages))
            sys.stdout.flush()
        ui.info("send", "dry run: nothing sent (use --reflect to mail yourself, --send to mail the list)")
        return 0

    transport = make_transport(repo, config)
    env_from = envelope_from(config, sender)
    if args.reflect or args.preview_to:
        only = [sender] if args.reflect else normalize(args.preview_to, "--preview-to")
        for job in jobs:
            deliver(transport, job.messages, env_from, reflect_to=only)
        count = sum(len(j.messages) for j in jobs)
        ui.info("send", f"sent {count} messages only to {', '.join(only)} (not recorded)")
        return 0

    bcc = normalize(config.get("bcc", []), "sendemail.bcc")
    for job in jobs:
        store = RecordStore(repo, job.record, sender)
        deliver(transport, job.messages, env_from, skip=job.done, on_sent=store.sent, bcc=bcc)
        ui.info("send", f"sent {len(job.messages) - len(job.done)} messages; recorded in "
                        f"{record_ref(job.record.series, job.record.version)}")
    return 0


@dataclass
class Job:
    """One series' messages and, for --send, its record and what is already sent."""

    label: str                 # <series>-v<N>
    messages: list
    record: "Record | None" = None
    done: set = field(default_factory=set)


def dependencies(args, r: Rendered) -> list[Rendered]:
    """The rendered series r depends on, the deepest first (--with-deps)."""
    if r.dependencies:            # rendered by patchkit: every series of the chain
        return list(r.dependencies)
    if not r.prerequisite_base:
        if cover_mod.dependency_of(r.series, args.tree if args.tree and "/" not in args.tree else None):
            raise UserError(f"--with-deps: where does the series {r.series.name} depends on start? "
                            "pass --prerequisite-base REV",
                            hint=f"it is mailed as the commits --prerequisite-base..{r.base}")
        raise UserError(f"--with-deps: {r.series.name} v{r.series.version} depends on no other series "
                        f"(no depends in {r.series.folder / f'v{r.series.version}' / 'version.toml'})")
    if not r.chain:
        raise UserError(f"--with-deps: {r.series.name} v{r.series.version} depends on no other series "
                        f"(no depends in {r.series.folder / f'v{r.series.version}' / 'version.toml'})")
    if len(r.chain) != 1:
        raise UserError(f"--with-deps with --repo mails one dependency; {r.series.name} sits on "
                        + (", ".join(s.name for s in r.chain) or "none"),
                        hint=f"drop --repo/--base so patchkit renders the whole chain: "
                             f"patchkit send {args.series} --with-deps")
    return [Rendered(r.repo, r.prerequisite_base, r.base, None, r.chain[0], r.author)]


def plan(args, r: Rendered, sender: str, date: datetime, prefixes, config, *, main: bool) -> Job | None:
    """The messages of one series, checked against what was already sent.

    A dependency (main=False) that was completely sent at the same commits
    is skipped; --resend and -v apply only to the series asked for."""
    series, repo = r.series, r.repo
    label = f"{series.name}-v{series.version}"
    if not (args.send and not proc.DRY_RUN):
        return Job(label, compose(args, r, sender, date, prefixes, config))
    record = load_record(repo, series.name, series.version)
    tip = mail.rev_parse(repo, r.tip)
    if record is not None and not main:
        if record.complete and record.tip == tip:
            ui.info("send", f"{label} was already sent on {record.date} "
                            f"(cover {record.message_ids[0]}): not sending it again")
            return None
        if record.complete:
            raise UserError(f"the dependency {label} changed since it was sent on {record.date} "
                            f"(sent tip {record.tip[:12]}, now {tip[:12]})",
                            hint=f"bump version in {series.folder / 'series.toml'}")
    resuming = False
    if record is not None:
        if record.complete and not args.resend:
            raise UserError(
                f"{series.name} v{series.version} was already sent on {record.date} "
                f"(cover {record.message_ids[0]})",
                hint="a new revision is a new folder v<N+1>/ "
                     "(patchkit template import --version N+1), or pass --resend")
        if record.tip != tip:
            raise UserError(
                f"{series.name} v{series.version} changed since it was "
                f"{'sent' if record.complete else 'partly sent'} on {record.date} "
                f"(sent tip {record.tip[:12]}, now {tip[:12]})",
                hint="a changed series is a new version: a folder v<N+1>/ "
                     "(patchkit template import --version N+1)")
        if record.complete:
            if date.isoformat() == record.date:
                raise UserError(f"--resend with the date of the first send ({record.date}) "
                                "would reuse its Message-IDs", hint="drop --date, or give a new one")
            prefixes = [*prefixes, "RESEND"]
        else:
            resuming = True
            date = datetime.fromisoformat(record.date)
            prefixes = record.prefixes
    elif args.resend and main:
        raise UserError(f"--resend: {series.name} v{series.version} was never sent from {repo}",
                        hint="drop --resend")

    messages = compose(args, r, sender, date, prefixes, config)
    if resuming:
        expected = [str(m["Message-Id"]) for m in messages]
        if expected != record.message_ids:
            raise UserError(
                f"cannot resume {series.name} v{series.version}: the messages differ from the "
                "partly sent ones (recipients or prefixes changed?)",
                hint=f"inspect the record: git -C {repo} log -1 {record_ref(series.name, series.version)}")
        done = set(record.sent)
        ui.info("send", f"resuming {label}: {len(done)} of {len(messages)} already sent, sending the rest")
        return Job(label, messages, record, done)
    record = Record(series=series.name, version=series.version, date=date.isoformat(),
                    base=mail.rev_parse(repo, r.base), tip=tip,
                    prerequisite_base=(mail.rev_parse(repo, r.prerequisite_base)
                                       if r.prerequisite_base else None),
                    prefixes=prefixes,
                    message_ids=[str(m["Message-Id"]) for m in messages], sent=[],
                    previous=load_record_commit(repo, series.name, series.version))
    return Job(label, messages, record, set())


def parse_compare(spec: str) -> tuple[str | None, str | None, str]:
    """--compare-to [TREE:][OLD_BASE..]OLD_TIP -> (tree or None, old base or None, old tip)."""
    tree, sep, revs = spec.partition(":")
    if not sep:
        tree, revs = None, spec
    base, sep, tip = revs.partition("..")
    if not sep:
        base, tip = None, revs
    if not tip or (sep and not base) or (tree is not None and not (tree and base)):
        raise UserError(f"--compare-to {spec!r}: expected REF, BASE..TIP or TREE:BASE..TIP",
                        hint="e.g. --compare-to linux-source-6.12:patchkit/swap-batching-v1..patchkit/zram-swap-ops-v1")
    return tree, base or None, tip


def fetch_compare_argv(repo: Path, source: Path, refs: list[tuple[str, str]]) -> list[str]:
    """git fetch of the previous version's commits from another tree's repository."""
    return git.argv(repo, "fetch", "--quiet", "--no-tags", str(source),
                    *[f"+{src}:{dst}" for src, dst in refs])


def compare_range(spec: str | None, r: Rendered, prev) -> tuple[str, str] | None:
    """The previous version's commits as (old base, old tip) in r.repo, for the range-diff.

    Default: branch patchkit/<series>-v<N-1> when it exists, from the base its
    send recorded (else this version's base).  --compare-to names it: REF,
    BASE..TIP, or TREE:BASE..TIP when the previous version was rendered on
    another pinned tree (v1 on 6.12, v2 on 7.3): its commits are fetched into
    refs/patchkit/compare/ of this repository, as b4 compares with a version
    that has another base."""
    series = r.series
    recorded = prev.base if prev is not None and mail.rev_parse_ok(r.repo, prev.base) else r.base
    if spec is None:
        tip = f"patchkit/{series.name}-v{series.version - 1}"
        return (recorded, tip) if mail.rev_parse_ok(r.repo, tip) else None
    tree_name, base, tip = parse_compare(spec)
    if tree_name is not None:
        from patchkit import tree as tree_mod

        source = tree_mod.open_tree(tree_name, fetch=False).path
        ns = f"refs/patchkit/compare/{series.name}-v{series.version - 1}"
        proc.run(fetch_compare_argv(r.repo, source, [(base, f"{ns}/base"), (tip, f"{ns}/tip")]))
        base, tip = f"{ns}/base", f"{ns}/tip"
    for rev in filter(None, (base, tip)):
        if not mail.rev_parse_ok(r.repo, rev):
            raise UserError(f"--compare-to {spec!r}: {rev!r} is no commit in {r.repo}")
    return base or recorded, tip


def compose(args, r: Rendered, sender: str, date: datetime, prefixes, config=None) -> list:
    config = config or {}
    series = r.series
    per_patch = None if args.no_auto_to_cc else recipients.for_series(r.repo, r.base, r.tip)
    if config.get("tocmd") or config.get("cccmd"):
        extra = recipients.from_commands(r.repo, r.base, r.tip, tocmd=config.get("tocmd"),
                                         cccmd=config.get("cccmd"))
        per_patch = [mail.Recipients([*a.to, *b.to], [*a.cc, *b.cc])
                     for a, b in zip(per_patch or [mail.Recipients() for _ in extra], extra)]
    rdiff = None
    previous_link = None
    if series.version > 1:
        prev = load_record(r.repo, series.name, series.version - 1)
        old = compare_range(args.compare_to, r, prev)
        if old is not None:
            rdiff = mail.range_diff(r.repo, old[0], old[1], r.base, r.tip)
        if prev is not None:
            previous_link = LORE + prev.message_ids[0].strip("<>")
    return mail.build_messages(
        r.repo, r.base, r.tip, series, prerequisite_base=r.prerequisite_base,
        sender=sender, date=date, to=[*config.get("to", []), *args.to],
        cc=[*config.get("cc", []), *args.cc], per_patch_recipients=per_patch,
        range_diff=rdiff, previous_link=previous_link, extra_prefixes=prefixes,
        addressing=getattr(args, "addressing", "union"),
        trailer_cc=getattr(args, "trailer_cc", True) and git_bool(config.get("signedoffbycc"), True),
        suppress_cc=suppressed_trailers(config),
        prerequisites=[(s.change_id, s.version) for s in r.chain] if r.prerequisite_base else (),
        mailer=None if xmailer(args, config) else "",
        base_commit=mainline_base(r),
        cover_context={"tree": getattr(r.tree, "name", "") or ""},
    )


def mainline_base(r: Rendered) -> str | None:
    """cover.mainline_base for a rendered series, warning when it drops the line."""
    return cover_mod.mainline_base(r.repo, r.base, r.prerequisite_base, r.tree, warn=True)


def show_summary(messages) -> None:
    """Subjects and recipients of every message, before anything is sent
    (nothing with -q: a recipient line without its subject means nothing)."""
    if ui.QUIET:
        return
    for msg in messages:
        ui.info("send", str(msg["Subject"]))
        for key in ("To", "Cc"):
            for a in (msg[key].addresses if msg[key] else ()):
                print(f"    {key}: {a}", file=sys.stderr)


def git_bool(value, default: bool) -> bool:
    """A git config boolean as git reads it."""
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in ("", "false", "no", "off", "0"):
        return False
    if text in ("true", "yes", "on", "1"):
        return True
    raise UserError(f"git config value {value!r} is no boolean", hint="use true or false")


def xmailer(args, config: dict) -> bool:
    if getattr(args, "xmailer", None) is not None:
        return args.xmailer
    return git_bool(config.get("xmailer"), True)


def suppressed_trailers(config: dict) -> list[str]:
    """sendemail.suppressCc as the trailer kinds it leaves out."""
    out = set()
    for value in config.get("suppresscc", []):
        for word in value.replace(",", " ").split():
            word = word.lower()
            if word in ("all", "body"):
                out.update(mail.TRAILER_KINDS)
            elif word == "sob":
                out.add("sob")
            elif word in ("cc", "bodycc"):
                out.add("cc")
            elif word == "misc-by":
                out.add("misc-by")
            elif word not in ("self", "author", "cccmd"):
                raise UserError(f"sendemail.suppressCc {word!r}: unknown value",
                                hint="one of all, body, sob, cc, bodycc, misc-by, self, author, cccmd")
    return sorted(out)


# ------------------------------------------------------------------ identity and config

# multi-valued keys (git allows them many times): lists
MULTI_KEYS = ("to", "cc", "bcc", "suppresscc")
# keys git send-email reads that would change what patchkit sends, but
# patchkit does not do: a warning instead of silently ignoring them
UNSUPPORTED_KEYS = ("smtpserveroption", "headercmd", "aliasesfile", "aliasfiletype",
                    "transferencoding", "8bitencoding", "tocover", "cccover")


def parse_sendemail(text: str, identity: str | None = None) -> dict:
    """`git config -z --get-regexp ^sendemail\\.` output as a dict: keys
    lower-cased without the prefix; MULTI_KEYS are lists.  With identity,
    sendemail.<identity>.<key> overrides sendemail.<key> (a multi-valued
    key's scoped list replaces the plain one), as git send-email does."""
    plain: dict = {k: [] for k in MULTI_KEYS}
    scoped: dict = {}
    for entry in text.split("\0"):
        if not entry:
            continue
        key, _, value = entry.partition("\n")
        rest = key.split(".", 1)[1]
        sub, dot, name = rest.rpartition(".")
        target = plain
        if dot:
            if sub != identity:
                continue
            target = scoped
        name = name.lower()
        if name in MULTI_KEYS:
            target.setdefault(name, []).append(value)
        else:
            target[name] = value
    plain.update(scoped)
    return plain


def sendemail_config(repo, identity: str | None = None) -> dict:
    """The tree's sendemail.* settings (parse_sendemail), for identity or
    sendemail.identity."""
    res = git.run(repo, "config", "-z", "--get-regexp", r"^sendemail\.", check=False)
    if identity is None:
        identity = parse_sendemail(res.stdout).get("identity")
    if identity and f"sendemail.{identity}.".lower() not in res.stdout.lower():
        raise UserError(f"sendemail identity {identity!r} has no keys in {repo}",
                        hint=f"git config sendemail.{identity}.smtpServer ...; or drop --identity")
    config = parse_sendemail(res.stdout, identity)
    for key in UNSUPPORTED_KEYS:
        if key in config:
            ui.warn("send", f"sendemail.{key} is not supported by patchkit and is ignored")
    return config


def git_config(repo, key: str) -> str | None:
    return git.config_get(repo, key) or None


def identity(repo, explicit: str | None, config: dict, fallback: str = "") -> str:
    """The sender: --from, sendemail.from, user.name <user.email>, or who rendered the series."""
    if explicit:
        return mail.format_address(*mail.parse_address(explicit, "--from"))
    if config.get("from"):
        return mail.format_address(*mail.parse_address(config["from"], "git config sendemail.from"))
    found = git.identity(repo, required=False)
    if not found and fallback:
        return mail.format_address(*mail.parse_address(fallback, "the series' author"))
    if not found:
        raise UserError(f"no author identity: user.name / user.email are not set for {repo}",
                        hint=f"git -C {repo} config user.name 'Your Name'; "
                             f"git -C {repo} config user.email you@example.org (or pass --from)")
    return mail.format_address(*mail.parse_address(found, "git config user.name/user.email"))


def envelope_from(config: dict, sender: str) -> str:
    env = config.get("envelopesender")
    if env and env != "auto":
        return mail.parse_address(env, "sendemail.envelopeSender")[1]
    return mail.parse_address(sender)[1]


# ------------------------------------------------------------------ delivery

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


# ------------------------------------------------------------------ sent records

@dataclass
class Record:
    series: str
    version: int
    date: str
    base: str
    tip: str
    prerequisite_base: str | None
    prefixes: list[str]
    message_ids: list[str]
    sent: list[str]
    previous: str | None = None        # the record commit of an earlier send of this version

    @property
    def complete(self) -> bool:
        return len(self.sent) == len(self.message_ids)

    def to_json(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if k != "previous"}
        data["complete"] = self.complete
        return json.dumps(data, indent=2)


def record_ref(name: str, version: int) -> str:
    return f"{SENT_REF}/{name}/v{version}"


def load_record_commit(repo, name: str, version: int) -> str | None:
    return git.rev_parse(repo, record_ref(name, version))


def load_record(repo, name: str, version: int) -> Record | None:
    commit = load_record_commit(repo, name, version)
    if commit is None:
        return None
    text = git.out(repo, "log", "-1", "--format=%B", commit)
    _, _, body = text.partition("\n\n")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise UserError(f"{record_ref(name, version)} in {repo} is no patchkit sent record",
                        hint=f"git -C {repo} log -1 {record_ref(name, version)}") from exc
    data.pop("complete", None)
    parents = git.out(repo, "log", "-1", "--format=%P", commit).split()
    return Record(**data, previous=parents[1] if len(parents) > 1 else None)


class RecordStore:
    """Writes the record after every delivered message (compare-and-swap on the ref)."""

    def __init__(self, repo, record: Record, sender: str):
        self.repo = repo
        self.record = record
        self.ref = record_ref(record.series, record.version)
        self.current = load_record_commit(repo, record.series, record.version)
        name, addr = mail.parse_address(sender)
        self.env = git.ident_env(name or addr, addr, None)

    def sent(self, msgid: str) -> None:
        self.record.sent.append(msgid)
        r = self.record
        summary = (f"patchkit: sent {r.series} v{r.version} "
                   f"({len(r.sent)}/{len(r.message_ids)} messages)")
        parents = ["-p", r.tip]
        if r.previous:
            parents += ["-p", r.previous]
        commit = git.out(self.repo, "commit-tree", f"{r.tip}^{{tree}}", *parents,
                         "-m", f"{summary}\n\n{r.to_json()}\n", env=self.env)
        git.run(self.repo, "update-ref", "-m", summary, self.ref, commit, self.current or "0" * 40)
        self.current = commit
