"""git's sendemail.* configuration, read as git send-email reads it.

sendemail.identity (or --identity) selects sendemail.<identity>.* keys,
which override sendemail.*.  parse_sendemail() is pure (tested on `git
config --list` text); sendemail_config() reads a repository's; identity()
and envelope_from() say who sends.
"""

from __future__ import annotations

from patchkit import git, mail, ui
from patchkit.errors import UserError


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
