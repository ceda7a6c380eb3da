"""patchkit decls: the swap I/O declarations of two trees, compared."""

from __future__ import annotations

import subprocess

import pytest

from patchkit import cli, decls
from patchkit.errors import UserError

OPS_73 = """/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MM_SWAP_OPS_H
#define _MM_SWAP_OPS_H

struct swap_iocb {
	union {
		struct kiocb	iocb;
		struct bio	bio;
	};
	struct bio_vec		bvecs[SWAP_CLUSTER_MAX];
	int			nr_bvecs;
	int			len;
};

/* a comment that must not count */
#define SWAP_OPS_F_REQUIRE_NOFS		(1U << 0)

struct swap_ops {
	unsigned int		flags;
	bool (*can_merge)(struct folio *folio, struct folio *prev_folio,
			size_t prev_folio_size, int rw);
	void (*submit_write)(struct swap_io_ctx *ctx);
};

int swap_fs_activate(struct swap_info_struct *sis, const struct swap_ops *ops);

#endif /* _MM_SWAP_OPS_H */
"""

SWAP_H = """#ifndef _MM_SWAP_H
#define _MM_SWAP_H
struct swap_io_ctx;
#ifdef CONFIG_SWAP
int sio_pool_init(void);
void swap_read_folio(struct swap_io_ctx *ctx, struct folio *folio);
struct folio *read_swap_cache_async(struct swap_io_ctx *ctx, swp_entry_t entry,
		gfp_t gfp_mask, struct vm_area_struct *vma, unsigned long addr);
void show_swap_cache_info(void);
#else /* CONFIG_SWAP */
static inline void swap_read_folio(struct swap_io_ctx *ctx, struct folio *folio)
{
}
static inline void show_swap_cache_info(void)
{
}
#endif /* CONFIG_SWAP */
extern const struct swap_ops swap_bdev_ops;
#endif
"""


def keys(d):
    return sorted(f"{k}:{n}" for k, n in d)


def test_swap_ops_h_struct_members_defines_and_prototypes():
    d = decls.parse("include/linux/swap_ops.h", OPS_73)
    assert keys(d) == sorted([
        "define:SWAP_OPS_F_REQUIRE_NOFS",
        "struct:swap_iocb", "member:swap_iocb.iocb", "member:swap_iocb.bio",
        "member:swap_iocb.bvecs", "member:swap_iocb.nr_bvecs", "member:swap_iocb.len",
        "struct:swap_ops", "member:swap_ops.flags", "member:swap_ops.can_merge",
        "member:swap_ops.submit_write",
        "function:swap_fs_activate [always]",
    ])
    assert d[("member", "swap_ops.can_merge")].text == (
        "bool(*can_merge)(struct folio*folio,struct folio*prev_folio,size_t prev_folio_size,int rw)")


def test_swap_h_keeps_swap_io_prototypes_with_their_config_side():
    d = decls.parse("mm/swap.h", SWAP_H, swap_io_only=True)
    assert keys(d) == sorted([
        "function:sio_pool_init [CONFIG_SWAP]",
        "function:swap_read_folio [CONFIG_SWAP]",
        "function:swap_read_folio [!CONFIG_SWAP]",
        "function:read_swap_cache_async [CONFIG_SWAP]",
        "variable:swap_bdev_ops",
    ])
    # the inline stub is compared by its signature, not its (empty) body
    assert d[("function", "swap_read_folio [!CONFIG_SWAP]")].text == (
        "void swap_read_folio(struct swap_io_ctx*ctx,struct folio*folio)")


def test_whitespace_and_comments_do_not_make_a_difference():
    other = OPS_73.replace("\tint\t\t\tlen;", "\tint len;\t/* bytes */").replace(
        "size_t prev_folio_size, int rw);", "size_t prev_folio_size,\n\t\t\t  int rw);")
    a = decls.parse("include/linux/swap_ops.h", OPS_73)
    b = decls.parse("include/linux/swap_ops.h", other)
    assert decls.compare(a, b) == []


def test_every_difference_is_listed():
    old = OPS_73.replace("int\t\t\tnr_bvecs;", "int\t\t\tpages;").replace(
        "#define SWAP_OPS_F_REQUIRE_NOFS\t\t(1U << 0)\n", "")
    new = OPS_73.replace("const struct swap_ops *ops);", "struct swap_ops *ops);")
    diffs = decls.compare(decls.parse("h", old), decls.parse("h", new))
    assert [(d.kind, d.name, d.old is None, d.new is None) for d in diffs] == [
        ("define", "SWAP_OPS_F_REQUIRE_NOFS", True, False),
        ("function", "swap_fs_activate [always]", False, False),
        ("member", "swap_iocb.nr_bvecs", True, False),
        ("member", "swap_iocb.pages", False, True),
    ]
    assert "only in the new tree" in str(diffs[0])
    assert "->" in str(diffs[1])


def mini_tree(root, ops=OPS_73, swap_h=SWAP_H):
    (root / "include/linux").mkdir(parents=True)
    (root / "mm").mkdir()
    if ops is not None:
        (root / "include/linux/swap_ops.h").write_text(ops)
    (root / "mm/swap.h").write_text(swap_h)
    return root


def test_cli_exit_status_and_output(tmp_path, capsys):
    a = mini_tree(tmp_path / "a")
    b = mini_tree(tmp_path / "b")
    assert cli.main(["decls", str(a), str(b)]) == 0
    c = mini_tree(tmp_path / "c", ops=None)
    assert cli.main(["decls", str(c), str(b)]) == 1
    out = capsys.readouterr().out
    assert "include/linux/swap_ops.h: struct swap_ops: only in the new tree" in out


def test_cli_reads_a_git_revision(tmp_path, capsys):
    repo = mini_tree(tmp_path / "r", ops=None)
    run = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)
    run("init", "-q")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "old")
    (repo / "include/linux/swap_ops.h").write_text(OPS_73)
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "new")
    assert cli.main(["decls", f"{repo}@HEAD", str(repo)]) == 0
    assert cli.main(["decls", f"{repo}@HEAD~1", str(repo)]) == 1


def test_bad_tree_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not a directory"):
        decls.tree_decls(str(tmp_path / "nope"))
    assert cli.main(["decls", str(tmp_path), str(tmp_path)]) == 2
