"""One git layer: patchkit/git.py is the only module that builds a git
command line or sets git's environment; no module imports GitPython."""

import ast
from pathlib import Path

from patchkit import git

PACKAGE = Path(__file__).resolve().parents[2] / "patchkit"
LAYER = PACKAGE / "git.py"


# GitLab runner variables (how the runner clones), not git's own environment
CI_VARIABLES = {"GIT_DEPTH", "GIT_STRATEGY", "GIT_SUBMODULE_STRATEGY"}


def _is_git(node) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)
            and (node.value == "git" or node.value.endswith("/git")))


def git_command_lines(path: Path) -> list[str]:
    """'file:line: what' for every git command line the module builds itself."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")),
                       key=lambda n: (n.lineno, n.col_offset)):
        where = f"{path.name}:{node.lineno}"
        # ["git", ...] / ("git", ...) argv literals, also after a splat or -C
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts and _is_git(node.elts[0]):
            found.append(f"{where}: argv literal starting with 'git'")
        # a "git -C ..." command line in a string run through a shell
        if (isinstance(node, ast.Call) and any(
                isinstance(a, ast.Constant) and isinstance(a.value, str)
                and a.value.startswith("git ") for a in node.args)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) in
                ("run", "Popen", "check_output", "call", "system", "spawn")):
            found.append(f"{where}: shell git command")
        # git's environment: identity, dates, config files, index
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.startswith("GIT_") and node.value != "GIT_COMMITTER_IDENT" and \
                node.value not in CI_VARIABLES:
            found.append(f"{where}: sets {node.value}")
        # proc.git / GitPython
        if isinstance(node, ast.Attribute) and node.attr == "git" and \
                getattr(node.value, "id", "") == "proc":
            found.append(f"{where}: proc.git")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
            if any(n == "git" or n.startswith("git.") for n in names) and \
                    getattr(node, "module", None) != "patchkit":
                found.append(f"{where}: imports GitPython")
    return found


def test_no_module_outside_the_git_layer_builds_a_git_command_line():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert LAYER in modules and len(modules) > 20
    offenders = [hit for path in modules if path != LAYER for hit in git_command_lines(path)]
    assert offenders == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    """The grep above is not blind: each shape it bans is reported."""
    sample = (
        "import subprocess\n"
        "from patchkit import proc\n"
        "def a(repo):\n"
        "    return ['git', '-C', str(repo), 'log']\n"
        "def b(repo):\n"
        "    return proc.git(repo, 'status')\n"
        "def c():\n"
        "    return {'GIT_COMMITTER_DATE': '@0 +0000'}\n"
        "def d(repo):\n"
        "    subprocess.run('git -C x log', shell=True)\n"
        "import git\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(sample)
    hits = git_command_lines(path)
    assert [h.split(": ", 1)[1] for h in hits] == [
        "argv literal starting with 'git'", "proc.git", "sets GIT_COMMITTER_DATE",
        "shell git command", "imports GitPython"]
    assert hits[0].startswith("probe.py:4: ")


def test_gitpython_is_not_a_dependency():
    text = (PACKAGE.parent / "pyproject.toml").read_text()
    assert "gitpython" not in text.lower()


def test_layer_argv_builders():
    assert git.argv("/r", "log", "-1") == ["git", "-C", "/r", "log", "-1"]
    assert git.argv(None, "--version") == ["git", "--version"]
    assert git.am_argv("/r", ["/p/1.patch"]) == ["git", "-C", "/r", "am", "-3", "--keep-cr",
                                                  "/p/1.patch"]
    out = git.output_argv("/r", "diff")
    assert out[:3] == ["git", "-C", "/r"] and out[-1] == "diff"
    assert "format.signOff=false" in out and "diff.noprefix=false" in out
    pinned = git.pinned_argv(Path("/r"), "write-tree")
    assert pinned[:3] == ["git", "--git-dir=/r/.git", "--work-tree=/r"]
    assert "core.autocrlf=false" in pinned and pinned[-1] == "write-tree"
    assert git.apply_cached_argv(Path("/r"), Path("/d.diff"), check=True) == [
        "git", "-C", "/r", "apply", "--cached", "--whitespace=nowarn", "--verbose", "--check",
        "/d.diff"]


def test_identity_comes_from_git_config_as_git_resolves_it(tmp_path, monkeypatch):
    cfg = tmp_path / "global"
    cfg.write_text("[user]\n\tname = Global Person\n\temail = global@example.org\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "r"
    git.run(None, "init", "-q", str(repo))
    assert git.identity(repo) == "Global Person <global@example.org>"
    git.run(repo, "config", "user.name", "Repo Person")
    assert git.identity(repo) == "Repo Person <global@example.org>"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "none"))
    git.run(repo, "config", "--unset", "user.name")
    assert git.identity(repo, required=False) == ""
    assert git.parse_identity(" A B <a@b.org> ") == ("A B", "a@b.org")


def test_rev_parse_and_is_repo(tmp_path):
    repo = tmp_path / "r"
    git.run(None, "init", "-q", str(repo))
    assert git.is_repo(repo) and not git.is_repo(tmp_path / "nothing")
    assert git.rev_parse(repo, "HEAD", kind="commit") is None
    tree = git.out(repo, "write-tree")
    commit = git.out(repo, "commit-tree", tree, "-m", "x",
                     env=git.ident_env("A", "a@b.org", "@1700000000 +0000"))
    git.run(repo, "update-ref", "HEAD", commit)
    assert git.rev_parse(repo, "HEAD", kind="commit") == commit
    assert git.rev_parse(repo, "HEAD", kind="tree") == tree
