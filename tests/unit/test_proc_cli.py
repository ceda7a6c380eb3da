import pytest

from patchkit import cli, options, proc
from patchkit.errors import CommandFailed, InfraError


def test_run_writes_reproducer_as_first_log_line(tmp_path):
    log = tmp_path / "stage.log"
    proc.run(["sh", "-c", "echo hello"], cwd=tmp_path, env={"A": "1"}, log=log)
    first, second = log.read_text().splitlines()[:2]
    assert first == f"# reproduce: cd {tmp_path} && A=1 sh -c 'echo hello'"
    assert second == "hello"


def test_failed_command_names_argv_exit_code_and_output_tail(tmp_path):
    with pytest.raises(CommandFailed) as exc:
        proc.run(["sh", "-c", "echo boom >&2; exit 4"])
    assert exc.value.returncode == 4
    assert "exit 4" in str(exc.value)
    assert "boom" in str(exc.value)


def test_missing_program_names_the_debian_package():
    with pytest.raises(InfraError) as exc:
        proc.require("qemu-system-x86_64-not-here")
    assert "apt-get install" in str(exc.value)


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "child-alive"
    with pytest.raises(CommandFailed) as exc:
        proc.run(["sh", "-c", f"(sleep 3; touch {marker}) & sleep 30"], timeout=0.5)
    assert "timed out" in str(exc.value)
    import time
    time.sleep(3.5)
    assert not marker.exists(), "a grandchild survived the timeout"


def test_dry_run_prints_and_runs_nothing(tmp_path, capsys):
    target = tmp_path / "made"
    with options.using(dry_run=True):
        proc.run(["touch", str(target)])
    assert not target.exists()
    assert f"+ touch {target}" in capsys.readouterr().out


def test_unknown_series_is_a_user_error_listing_the_known_ones(tmp_path):
    from patchkit import series
    from patchkit.errors import UserError

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "series.toml").write_text("name = 'real'")
    with pytest.raises(UserError) as exc:
        series.load("nope", root=tmp_path)
    assert "unknown series 'nope'" in str(exc.value)
    assert "known series: real" in str(exc.value)
    assert exc.value.exit_code == 2


def test_cli_exit_code_2_for_user_error(monkeypatch, capsys):
    from patchkit.errors import UserError

    def boom(args):
        raise UserError("bad template templates/x/edits.toml:3")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = next(a for a in parser._actions if a.dest == "command")
    p = sub.add_parser("boom")
    p.set_defaults(handler=boom)
    assert cli.main(["boom"]) == 2
    assert "E: bad template templates/x/edits.toml:3" in capsys.readouterr().err


def test_dry_run_flag_does_not_outlive_the_call(monkeypatch):
    seen = []
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.add_parser("spy").set_defaults(handler=lambda args: seen.append((args.options, options.current())))
    assert options.current().dry_run is False
    assert cli.main(["--dry-run", "-q", "spy"]) == 0
    # the command got the flags as one frozen object, current for the call only
    assert seen == [(options.Options(dry_run=True, quiet=True),) * 2]
    assert options.current() == options.DEFAULT
    with pytest.raises(AttributeError):
        seen[0][0].dry_run = False


def test_send_composes_under_dry_run_without_flipping_the_callers_options():
    with options.using(dry_run=True) as outer:
        with options.using(dry_run=False):
            assert options.current().dry_run is False
        assert options.current() is outer and outer.dry_run is True


def test_sigterm_to_patchkit_kills_the_command_it_is_waiting_for(tmp_path):
    """A CI timeout or `kill` sends SIGTERM to patchkit only: the command it
    runs (QEMU, a container) is in a session of its own and must not be
    left running as an orphan."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pidfile = tmp_path / "child.pid"
    script = (
        "import sys\n"
        "from patchkit import cli, proc\n"
        "def handler(args):\n"
        "    proc.run(['sh', '-c', 'echo $$ > %s; exec sleep 300'])\n"
        "    return 0\n"
        "import argparse\n"
        "ns = argparse.Namespace(dry_run=False, quiet=True, handler=handler)\n"
        "cli.build_parser = lambda: type('P', (), {'parse_args': lambda self, a: ns})()\n"
        "sys.exit(cli.main([]))\n" % pidfile)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.1)
    child = int(pidfile.read_text())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=20) == 130
    time.sleep(0.2)
    try:
        with open(f"/proc/{child}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z"), f"the child {child} still runs (state {state})"
