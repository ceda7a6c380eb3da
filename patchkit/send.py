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

This module is the command: which series, which messages, to whom, and
what is already sent.  Beside it: sendemail.py (git's sendemail.*
configuration), transport.py (SMTP / sendmail delivery), sentrecords.py
(the refs/patchkit/sent records and the send lock), mail.py (the messages).
"""

from __future__ import annotations

import argparse
import email.utils
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from patchkit import cover as cover_mod
from patchkit import git, mail, options, proc, recipients, sendemail, sentrecords, transport, ui
from patchkit import render as render_mod
from patchkit import series as series_mod
from patchkit.errors import Interrupted, UserError

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


def rendered(args, series) -> Rendered:
    """The series to mail: rendered now on the pinned tree (render.renderer_for_send),
    or, with --repo/--base, a series already rendered there."""
    if not args.repo:
        r = render_mod.renderer_for_send(args, series)
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
    if not args.options.dry_run:
        return _compose_and_send(args)
    # send must read git to compose anything; the global --dry-run means
    # "change nothing", which send's default mode already is.
    if args.send or args.reflect or args.preview_to:
        ui.info("send", "--dry-run: composing only, nothing will be sent")
    args.send = args.reflect = False
    args.preview_to = []
    with options.using(args.options, dry_run=False):
        return _compose_and_send(args)


def _compose_and_send(args: argparse.Namespace) -> int:
    check_args(args)
    series = load_series(args)
    try:
        r = rendered(args, series)
    except KeyboardInterrupt:
        raise Interrupted("interrupted while rendering: nothing was sent or recorded") from None
    if args.send:
        with sentrecords.SendLock(r.repo, series.name, series.version):
            return _run(args, series, r)
    return _run(args, series, r)


def _run(args, series, r) -> int:
    chain = ([*dependencies(args, r), r] if args.with_deps else [r])
    repo = r.repo
    config = sendemail.sendemail_config(repo, args.identity)
    sender = sendemail.identity(repo, args.sender or None, config, fallback=r.author)
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

    via = transport.make_transport(repo, config)
    env_from = sendemail.envelope_from(config, sender)
    if args.reflect or args.preview_to:
        only = [sender] if args.reflect else transport.normalize(args.preview_to, "--preview-to")
        for job in jobs:
            transport.deliver(via, job.messages, env_from, reflect_to=only)
        count = sum(len(j.messages) for j in jobs)
        ui.info("send", f"sent {count} messages only to {', '.join(only)} (not recorded)")
        return 0

    bcc = transport.normalize(config.get("bcc", []), "sendemail.bcc")
    for job in jobs:
        store = sentrecords.RecordStore(repo, job.record, sender)
        transport.deliver(via, job.messages, env_from, skip=job.done, on_sent=store.sent, bcc=bcc)
        ui.info("send", f"sent {len(job.messages) - len(job.done)} messages; recorded in "
                        f"{sentrecords.record_ref(job.record.series, job.record.version)}")
    return 0


@dataclass
class Job:
    """One series' messages and, for --send, its record and what is already sent."""

    label: str                 # <series>-v<N>
    messages: list
    record: "sentrecords.Record | None" = None
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
    if not args.send:
        return Job(label, compose(args, r, sender, date, prefixes, config))
    record = sentrecords.load_record(repo, series.name, series.version)
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
                hint=f"inspect the record: git -C {repo} log -1 {sentrecords.record_ref(series.name, series.version)}")
        done = set(record.sent)
        ui.info("send", f"resuming {label}: {len(done)} of {len(messages)} already sent, sending the rest")
        return Job(label, messages, record, done)
    record = sentrecords.Record(series=series.name, version=series.version, date=date.isoformat(),
                                base=mail.rev_parse(repo, r.base), tip=tip,
                                prerequisite_base=(mail.rev_parse(repo, r.prerequisite_base)
                                                   if r.prerequisite_base else None),
                                prefixes=prefixes,
                                message_ids=[str(m["Message-Id"]) for m in messages], sent=[],
                                previous=sentrecords.load_record_commit(repo, series.name, series.version))
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
        prev = sentrecords.load_record(r.repo, series.name, series.version - 1)
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
        trailer_cc=getattr(args, "trailer_cc", True) and sendemail.git_bool(config.get("signedoffbycc"), True),
        suppress_cc=sendemail.suppressed_trailers(config),
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
    if options.current().quiet:
        return
    for msg in messages:
        ui.info("send", str(msg["Subject"]))
        for key in ("To", "Cc"):
            for a in (msg[key].addresses if msg[key] else ()):
                print(f"    {key}: {a}", file=sys.stderr)


def xmailer(args, config: dict) -> bool:
    if getattr(args, "xmailer", None) is not None:
        return args.xmailer
    return sendemail.git_bool(config.get("xmailer"), True)


# ------------------------------------------------------------------ identity and config


# ------------------------------------------------------------------ delivery


# ------------------------------------------------------------------ sent records


