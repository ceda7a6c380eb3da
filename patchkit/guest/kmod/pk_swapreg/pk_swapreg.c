// SPDX-License-Identifier: GPL-2.0
/*
 * pk_swapreg - probe the swap core's block swap_ops registration from a module
 *
 * Loading registers swap_ops for a block_device_operations that no disk
 * uses, and the load returns the registration's result: insmod fails with
 * EBUSY while another driver (zram) is registered, and succeeds once that
 * driver has unregistered (its unload left no stale registration behind).
 * Unloading unregisters.  The ops must never run; if they do, they warn and
 * end the batch as failed, so the guest sees a splat instead of a hang.
 *
 * Built against the rendered tree by patchkit (build.py extmods) only when
 * the tree has swap_register_block_ops().
 */
#include <linux/blkdev.h>
#include <linux/module.h>
#include <linux/swap.h>

static const struct block_device_operations pk_swapreg_fops = {
	.owner = THIS_MODULE,
};

static void pk_swapreg_submit_write(struct swap_io_ctx *ctx)
{
	WARN_ONCE(1, "pk_swapreg: swap write reached ops of a disk that does not exist\n");
	swap_write_end(ctx->sio, true);
}

static void pk_swapreg_submit_read(struct swap_io_ctx *ctx)
{
	WARN_ONCE(1, "pk_swapreg: swap read reached ops of a disk that does not exist\n");
	swap_read_end(ctx->sio, true);
}

static const struct swap_ops pk_swapreg_ops = {
	.submit_write = pk_swapreg_submit_write,
	.submit_read = pk_swapreg_submit_read,
};

static int __init pk_swapreg_init(void)
{
	int ret = swap_register_block_ops(&pk_swapreg_fops, &pk_swapreg_ops);

	pr_info("pk_swapreg: swap_register_block_ops() = %d\n", ret);
	return ret;
}

static void __exit pk_swapreg_exit(void)
{
	swap_unregister_block_ops(&pk_swapreg_fops);
	pr_info("pk_swapreg: unregistered\n");
}

module_init(pk_swapreg_init);
module_exit(pk_swapreg_exit);
MODULE_DESCRIPTION("patchkit guest probe of swap_register_block_ops()");
MODULE_LICENSE("GPL");
