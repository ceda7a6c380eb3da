"""patchkit ci: the GitLab and GitHub files of the matrix, and that the committed ones are current."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from patchkit import ci, cli, matrix, paths


@pytest.fixture(scope="module")
def declared():
    m = matrix.load()
    return m, matrix.expand(m)


@pytest.mark.parametrize("engine", ["gitlab", "github"])
def test_committed_ci_files_are_what_the_declaration_generates(engine):
    """Change matrix.toml, forget `make ci-files`, and this fails."""
    committed = paths.REPO / ci.ENGINES[engine][1]
    assert committed.read_text() == ci.generate(engine), f"run: patchkit ci {engine}"
    assert cli.main(["ci", engine, "--check"]) == 0


def test_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "x.yml"
    stale.write_text(ci.generate("gitlab").replace("stage: test", "stage: build", 1))
    assert cli.main(["ci", "gitlab", "--check", "-o", str(stale)]) == 1


def test_yaml_emitter_round_trips_through_a_yaml_parser():
    body = {"on": {"push": {}}, "a b": ["x", "$Y z", "it's", 'say "hi"', "yes", "1", 3, True,
                                      {"k": [], "n": {"deep": "v:w"}}, ["p", "q"]],
            "key": "${{ github.actor }} <a@b>"}
    assert yaml.safe_load(ci.to_yaml(body)) == body


def test_generated_files_parse_to_the_generated_structure(declared):
    m, cells = declared
    assert yaml.safe_load(ci.generate("gitlab")) == ci.gitlab_body(m, cells)
    assert yaml.safe_load(ci.generate("github")) == ci.github_body(m, cells)


def test_gitlab_one_job_per_cell_tests_need_their_build_and_merge_takes_all(declared):
    m, cells = declared
    body = ci.gitlab_body(m, cells)
    jobs = {k: v for k, v in body.items() if k not in ("stages", "variables", "default", ".cell", "merge")}
    assert set(jobs) == {c.id for c in cells}
    for c in cells:
        job = jobs[c.id]
        assert job["variables"]["CELL"] == c.id and job["extends"] == ".cell"
        if c.kind == "build":
            assert job["stage"] == "build"
            assert f"results/matrix/kernels/{c.build_id}/" in job["artifacts"]["paths"]
        elif c.kind == "test":
            assert job["stage"] == "test"
            assert job["needs"] == [{"job": f"build-{c.build_id}", "artifacts": True}]
        else:
            assert job["needs"] == []
    assert 'matrix cell "$CELL"' in body[".cell"]["script"][0]
    merge = body["merge"]
    assert merge["stage"] == "merge" and merge["when"] == "always"
    assert merge["dependencies"] == [c.id for c in cells]
    assert merge["artifacts"]["reports"]["junit"] == "results/merged/junit.xml"


def test_github_jobs_download_the_kernel_their_build_uploaded(declared):
    m, cells = declared
    jobs = ci.github_body(m, cells)["jobs"]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", j) for j in jobs)
    uploads = {s["with"]["name"] for j in jobs.values() for s in j["steps"]
               if s.get("uses", "").startswith("actions/upload-artifact")}
    for c in cells:
        job = jobs[ci.github_id(c.id)]
        run = [s["run"] for s in job["steps"] if s.get("name") == c.id]
        assert run == [ci.cell_command(c, "$PATCHKIT_AUTHOR")]
        downloads = [s["with"]["name"] for s in job["steps"] if s.get("uses", "").startswith("actions/download")]
        if c.kind == "test":
            assert job["needs"] == [ci.github_id(f"build-{c.build_id}")]
            assert downloads == [f"kernel-{c.build_id}"] and downloads[0] in uploads
        else:
            assert downloads == [] and "needs" not in job
    assert jobs["merge"]["needs"] == [ci.github_id(c.id) for c in cells]
    assert jobs["merge"]["if"] == "always()"


def test_subset_files_hold_only_its_cells():
    text = ci.generate("gitlab", subset="reduced")
    body = yaml.safe_load(text)
    assert sorted(k for k in body if k.startswith(("build-", "test-"))) == [
        "build-6.12-baseline-minimal", "build-6.12-series-minimal", "test-6.12-baseline-minimal-pageout",
        "test-6.12-baseline-minimal-smoke", "test-6.12-series-minimal-pageout", "test-6.12-series-minimal-smoke"]
    assert "subset reduced" in text.splitlines()[0]


def actionlint() -> str | None:
    """actionlint from PATH or where scripts/actionlint.sh installs it."""
    found = shutil.which("actionlint")
    tools = paths.cache_dir() / "tools" / "bin" / "actionlint"
    return found or (str(tools) if tools.is_file() else None)


@pytest.mark.integration
def test_github_workflow_passes_actionlint():
    exe = actionlint()
    if exe is None:
        if os.environ.get("PATCHKIT_REQUIRE_ACTIONLINT"):
            pytest.fail("actionlint is not installed: scripts/actionlint.sh installs it")
        pytest.skip("actionlint not installed (make ci-lint installs it and runs this test)")
    workflow = paths.REPO / ci.GITHUB_FILE
    res = subprocess.run([exe, "-no-color", str(workflow)], capture_output=True, text=True, cwd=paths.REPO)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.integration
def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check above can fail: a job that needs a job that does not exist."""
    exe = actionlint()
    if exe is None:
        pytest.skip("actionlint not installed (make ci-lint)")
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(ci.generate("github", subset="reduced").replace(
        "needs:\n      - build-6_12-baseline-minimal", "needs:\n      - build-6_12-nothing", 1))
    res = subprocess.run([exe, "-no-color", str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode != 0 and "build-6_12-nothing" in res.stdout


def gitlab_ci_local() -> Path | None:
    """gitlab-ci-local where scripts/ci-local.sh installs it."""
    found = sorted((paths.cache_dir() / "tools").glob("gitlab-ci-local-*/node_modules/.bin/gitlab-ci-local"))
    return found[-1] if found else None


@pytest.mark.integration
def test_gitlab_pipeline_passes_gitlab_ci_local_schema_check(tmp_path):
    """gitlab-ci-local checks the file against GitLab's CI schema and lists its jobs."""
    exe = gitlab_ci_local()
    if exe is None:
        pytest.skip("gitlab-ci-local not installed (make ci-local installs it)")
    # --state-dir is taken relative to the working directory, even when absolute: keep it
    # in the repository's ignored results/ folder
    res = subprocess.run([str(exe), "--list-json", "--state-dir", "results/gitlab-ci-local-list"],
                         capture_output=True, text=True, cwd=paths.REPO, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = {j["name"]: j for j in json.loads(res.stdout)}
    cells = matrix.expand(matrix.load())
    assert set(jobs) == {c.id for c in cells} | {"merge"}
    assert jobs["merge"]["stage"] == "merge"
    assert [n["job"] for n in jobs["test-6.12-series-minimal-swap"]["needs"]] == ["build-6.12-series-minimal"]
