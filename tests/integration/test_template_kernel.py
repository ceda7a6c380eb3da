"""template import + render round trip on the real 6.12 kernel tree."""

import tempfile
from pathlib import Path

import pytest

from patchkit import git, render, template, tree

pytestmark = pytest.mark.integration

PROFILES = Path(__file__).resolve().parents[2] / "templates" / "profiles"


def kernel_repo():
    """The pinned tree (fetched into the user's cache when missing)."""
    t = tree.open_tree(None)
    return Path(t.path), t.base_commit


def commit_files(repo: Path, parent: str, files: dict[str, str], message: str) -> str:
    """A commit of parent with files replaced, made on a private index."""
    with tempfile.TemporaryDirectory() as tmp:
        index = git.Index(repo, Path(tmp) / "index", parent)
        lines = []
        for path, text in files.items():
            sha = index.git("hash-object", "-w", "--stdin", input=text.encode())
            lines.append(f"100644 {sha}\t{path}")
        index.git("update-index", "--add", "--index-info", input="\n".join(lines) + "\n")
        return index.commit(index.write_tree(), parent, message, "T", "t@example.org",
                            "@1780000000 +0000")


def test_import_of_a_kernel_commit_renders_back_exactly(tmp_path, monkeypatch):
    src, base = kernel_repo()    # the user's cache: fetched once, not per test
    monkeypatch.setenv("PATCHKIT_CACHE", str(tmp_path / "cache"))
    # a bare repo borrowing the kernel's objects: the source is never written
    repo = tmp_path / "k.git"
    git.run(None, "init", "-q", "--bare", str(repo))
    objects = Path(git.out(src, "rev-parse", "--git-common-dir"))
    objects = (objects if objects.is_absolute() else src / objects) / "objects"
    (repo / "objects" / "info" / "alternates").write_text(f"{objects.resolve()}\n")

    zram = "drivers/block/zram/zram_drv.c"
    text = git.blob(repo, f"{base}:{zram}").decode()
    fn = text.index("static void zram_accessed(")
    end = text.index("\n}\n", fn) + 3
    text = (text[:end] + "\nstatic void zram_touch(struct zram *zram, u32 index)\n{\n"
            "\tzram_slot_lock(zram, index);\n\tzram_accessed(zram, index);\n"
            "\tzram_slot_unlock(zram, index);\n}\n" + text[end:])
    text = text.replace("\tup_read(&zram->init_lock);\n", "\tup_read(&zram->init_lock); /* x */\n", 1)
    swap_h = git.blob(repo, f"{base}:mm/swap.h").decode()
    sha = commit_files(repo, base, {
        zram: text,
        "mm/swap.h": swap_h.replace("int sio_pool_init(void);\n",
                                    "int sio_pool_init(void);\nstruct swap_ops;\n")},
        "mm/zram: test\n\nBody.\n")

    series_dir = tmp_path / "series" / "kimport"
    folder = template.import_commit(repo, sha, series_dir, "0001-test",
                                    profile="linux-source-6.12", profiles=PROFILES)
    diff = (folder / "change.diff").read_text()
    assert "+\t{{ slot_lock }}(zram, index);\n" in diff

    class Tree:
        path, name, version, base_commit, manifest = repo, "linux-source-6.12", "6.12", base, None

    result = render.render(str(series_dir), Tree, author="A <a@example.org>", profiles=PROFILES,
                           out_root=tmp_path / "out")
    assert git.out(result.repo, "rev-parse", f"{result.tip}^{{tree}}") == \
        git.out(repo, "rev-parse", f"{sha}^{{tree}}")
    assert [p.name for p in result.patch_files] == ["0001-mm-zram-test.patch"]


def test_v1_series_render_to_the_recorded_patch_files(tmp_path):
    """v1 of both series, converted from anchored edits to diffs, renders the
    very bytes the anchored-edit engine rendered (recorded before the change)."""
    import hashlib

    t = tree.open_tree(None)
    if t.name != "linux-source-6.12" or t.base_commit != "6eff6eeda76333640b1b92348bda04b31d1fd843":
        pytest.skip(f"the hashes were recorded on linux-source-6.12 6eff6eeda763, not {t.name}")
    result = render.render("zram-swap-ops", t, author="Hash Check <hash@example.org>",
                           out_root=tmp_path / "out", version=1)
    def recorded_bytes(p):
        # Added to every cover letter after the hashes were recorded (mail
        # conventions, issue 19): the X-Mailer header and b4's
        # prerequisite-change-id trailer.  Everything else must be the same bytes.
        data = p.read_bytes()
        if p.name == "0000-cover-letter.patch":
            assert b"\nX-Mailer: patchkit " in data
            data = b"".join(line for line in data.splitlines(keepends=True)
                            if not line.startswith((b"X-Mailer: patchkit ", b"prerequisite-change-id: ")))
        return data

    got = {f"{p.parent.name}/{p.name}": hashlib.sha256(recorded_bytes(p)).hexdigest()
           for p in sorted((tmp_path / "out").glob("*/*.patch"))}
    assert got == V1_SHA256
    assert [c.sha[:12] for c in result.all_patches()] == [
        "0a95fb0e7304", "0ace970c7192", "3d0bfc5a66c4", "10748dde42a6",
        "8757c0ac20cc", "a7183f912d42", "6796b35b414e"]

    # the maintainer's loop closes: importing the rendered commits gives back
    # the very folders they were rendered from
    import shutil

    from patchkit import paths
    for r in [*result.dependencies, result]:
        copy = tmp_path / "templates" / r.series.name
        shutil.copytree(paths.TEMPLATES / r.series.name, copy)
        template.import_range(r.repo, f"{r.base}..{r.tip}", copy, "none", version=1,
                              tree_name=t.name)
        for diff in sorted((paths.TEMPLATES / r.series.name / "v1").glob("*/*")):
            rel = diff.relative_to(paths.TEMPLATES / r.series.name)
            assert (copy / rel).read_bytes() == diff.read_bytes(), rel


# sha256 of every file `patchkit render zram-swap-ops --author "Hash Check
# <hash@example.org>"` wrote with the anchored-edit templates (main d305db2)
V1_SHA256 = {
    "swap-batching-v1/0000-cover-letter.patch": "8313d9f45891ebb956e098eef26cead204e790110d20636e5e2a0b9b2b9f23a3",
    "swap-batching-v1/0001-mm-pass-swap-I-O-batches-around-in-a-struct-swap_io_.patch": "928d242adb719232a946360c4888ea850206174f1dcef62c16d1db3baef00f9d",
    "swap-batching-v1/0002-mm-page_io-batch-block-device-swap-I-O-through-struc.patch": "6f38f57bbc89a73fc9da46c68f6e14c46b93f5d557b9acb85ae140663e33217c",
    "swap-batching-v1/0003-mm-swap-let-each-swap-device-describe-its-I-O-with-s.patch": "2cceda66be2857c9ff67fedbe8b3e346ccc52d977d19b711bebdae2a952e6d3f",
    "swap-batching-v1/0004-mm-page_io-count-swap-I-O-submissions-in-debugfs.patch": "46598235567dbba32ff21f6c843ffb2a457ae440194920e276c99bc8fbe3d9cc",
    "zram-swap-ops-v1/0000-cover-letter.patch": "a51ad819bd03bdde6ec671abde4d00f3a02911a15fcdb30e21b30f098e48ccbb",
    "zram-swap-ops-v1/0001-mm-page_io-let-block-drivers-register-custom-swap-I-.patch": "af36c4142c2bcf2aee593a4cc986cf6bb6cd8864f09381faa3411f94aa12ed8a",
    "zram-swap-ops-v1/0002-mm-zram-handle-swap-read-write-via-swap_ops.patch": "4d47c6a6ffdb66993141235f284bbe65b67f1b9cb8fe7e8a7757d01da1a7515e",
    "zram-swap-ops-v1/0003-mm-swap-route-slot-free-notifications-through-swap_o.patch": "c9e3c960db48963757755e877a7c91b7933cb1847284bf53373f9536f73f0079",
}
