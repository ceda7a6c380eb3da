"""The command line a new user meets: a real description and the exit codes
in --help, what --dry-run does named in every command's help, and one
series argument form (positional) for every command that takes a series."""

from __future__ import annotations

import pytest

from patchkit import cli


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_describes_patchkit_and_lists_exit_codes(capsys):
    out = help_text(capsys)
    assert "mm/zram: route block swap I/O through swap_ops" in out
    for code, word in (("0", "passed"), ("1", "failed"), ("2", "bad input"), ("3", "tool failed"),
                       ("130", "interrupted")):
        assert any(line.split()[:1] == [code] and word in line for line in out.splitlines()), (code, out)


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_says_what_dry_run_does_there(capsys, command):
    out = " ".join(help_text(capsys, command).split())
    assert "--dry-run" in out
    text = out.split("--dry-run", 2)[-1]
    assert "refused" in text or "prints" in text or "composes" in text, out


@pytest.mark.parametrize("command", ["validate", "check", "build", "boot", "bench", "render", "apply",
                                     "report", "template"])
def test_refusing_commands_refuse_dry_run_by_name_with_exit_2(capsys, command):
    argv = {"validate": ["none"], "check": ["zram-swap-ops"], "build": [], "boot": ["--kernel", "k", "--source", "s"],
            "bench": [], "render": ["zram-swap-ops"], "apply": ["zram-swap-ops", "--tree", "."],
            "report": ["results.json"], "template": ["import", "--repo", ".", "--commit", "HEAD",
                                                     "--series", "x"]}[command]
    # after the command (the global spelling before it works the same way)
    full = ["--dry-run", command, *argv] if command == "template" else [command, *argv, "--dry-run"]
    assert cli.main(full) == 2
    err = capsys.readouterr().err
    assert "dry-run" in err and command in err


@pytest.mark.parametrize("command", ["render", "apply", "check", "send", "validate", "bench"])
def test_the_series_is_positional_everywhere(capsys, command):
    usage = help_text(capsys, command).split("\n\n")[0]
    assert "SERIES" in usage.upper().split("]")[-1] or "series" in usage.split()[-1].lower(), usage


def test_validate_series_option_is_a_deprecated_alias(capsys, monkeypatch):
    from patchkit import validate

    seen = {}
    monkeypatch.setattr(validate, "validate", lambda **kw: seen.update(kw) or
                        type("R", (), {"ok": lambda self: True})())
    assert cli.main(["validate", "--series", "none", "--build-only", "-o", "/tmp/unused-pk"]) == 0
    assert seen["series"] is None and "--series is deprecated" in capsys.readouterr().err
    assert cli.main(["validate", "zram-swap-ops", "--build-only", "-o", "/tmp/unused-pk"]) == 0
    assert seen["series"] == "zram-swap-ops"
    assert cli.main(["validate", "a", "--series", "b"]) == 2
    assert "two series given" in capsys.readouterr().err
