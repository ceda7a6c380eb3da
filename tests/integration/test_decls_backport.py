"""swap-batching v2 rendered on 6.12 against Linux 7.3: the swap I/O
declarations differ only where docs/swap-batching-v2.md says why."""

import pytest

from patchkit import decls, paths, pinned, render, tree

pytestmark = pytest.mark.integration

AUTHOR = "Ada Tester <ada@example.org>"

# (header, kind, name, only in 7.3, only in the backport); docs/swap-batching-v2.md
DOCUMENTED = {
    ("include/linux/swap_ops.h", "define", "SWAP_OPS_F_REQUIRE_NOFS", False, False),
    ("mm/swap.h", "function", "shmem_writeout [always]", True, False),
    ("mm/swap.h", "function", "swap_read_submit [!CONFIG_SWAP]", False, True),
    ("mm/swap.h", "function", "swap_writepage [!CONFIG_SWAP]", False, True),
    ("mm/swap.h", "function", "swap_writepage [CONFIG_SWAP]", False, True),
}


def test_backport_declarations_differ_from_linux_7_3_only_where_documented(tmp_path):
    if not pinned.is_fetched(paths.trees_dir() / "linux-source-7.3"):
        pytest.skip("no Linux 7.3 tree here (patchkit tree fetch linux-source-7.3)")
    # a tree that is there but does not open is a failure, not a skip
    mainline = tree.open_tree("linux-source-7.3", fetch=False)
    backport = render.render("swap-batching", tree.open_tree(None), author=AUTHOR, version=2,
                             out_root=tmp_path / "out")
    old = decls.tree_decls(f"{backport.repo}@{backport.tip}")
    new = decls.tree_decls(str(mainline.path))
    diffs = decls.compare(old, new)
    assert {(d.header, d.kind, d.name, d.old is None, d.new is None) for d in diffs} == DOCUMENTED
    # the structures a driver sees are mainline's, member for member
    for name in ("swap_iocb", "swap_io_ctx", "swap_ops"):
        members = {k for k in new if k[0] == "member" and k[1].startswith(name + ".")}
        assert members and all(old[k].text == new[k].text for k in members)
