// SPDX-License-Identifier: GPL-2.0
/*
 * pk_swapdev - a second block driver that does its own swap I/O
 *
 * A small RAM disk, /dev/pkswap0 (size from the "mb" parameter), whose
 * block_device_operations provide ->swap_activate(): at swapon it installs
 * its own swap_ops and a context pointer, and from then on the swap core
 * must hand every swap read and write of that area to these methods, not
 * to submit_bio().  Ordinary I/O (mkswap, the swap header read at swapon)
 * goes through pk_swapdev_submit_bio() as usual.
 *
 * Everything the guest test checks is counted and shown read-only under
 * /sys/module/pk_swapdev/parameters/:
 *   bios            bios submitted to the disk (reads and writes)
 *   activations     swapon calls of ->swap_activate()
 *   read_submits, read_folios, read_pages     swap reads through swap_ops
 *   write_submits, write_folios, write_pages  swap writes through swap_ops
 *   large_folios    swap folios of more than one page, either direction
 *   notify          slot_free_notify calls
 *   notify_atomic   of those, calls made in atomic context (preemptible()
 *                   false; always counted, meaningful with CONFIG_PREEMPT_COUNT)
 *   notify_irqsoff  of those, calls made with interrupts disabled (6.12's
 *                   per-CPU swap slot cache frees its batches that way)
 *   bad_context     methods called with a private_data that is not ours
 *
 * Built by patchkit (build.py extmods) against trees whose
 * block_device_operations have ->swap_activate() (zram-swap-ops v2).
 */
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/module.h>
#include <linux/swap_ops.h>
#include <linux/swapops.h>
#include <linux/vmalloc.h>

static unsigned int mb = 64;
module_param(mb, uint, 0444);
MODULE_PARM_DESC(mb, "disk size in MiB");

static atomic_long_t c_bios, c_activations, c_read_submits, c_read_folios,
	c_read_pages, c_write_submits, c_write_folios, c_write_pages,
	c_large_folios, c_notify, c_notify_atomic, c_notify_irqsoff, c_bad_context;

static int pk_counter_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(kp->arg));
}

static const struct kernel_param_ops pk_counter_ops = {
	.get = pk_counter_get,
};

#define PK_COUNTER(name) \
	module_param_cb(name, &pk_counter_ops, &c_##name, 0444)
PK_COUNTER(bios);
PK_COUNTER(activations);
PK_COUNTER(read_submits);
PK_COUNTER(read_folios);
PK_COUNTER(read_pages);
PK_COUNTER(write_submits);
PK_COUNTER(write_folios);
PK_COUNTER(write_pages);
PK_COUNTER(large_folios);
PK_COUNTER(notify);
PK_COUNTER(notify_atomic);
PK_COUNTER(notify_irqsoff);
PK_COUNTER(bad_context);

struct pk_dev {
	struct gendisk *disk;
	u8 *data;
	unsigned long pages;
};

static struct pk_dev pk;
static int pk_major;

static void pk_swapdev_submit_bio(struct bio *bio)
{
	sector_t sector = bio->bi_iter.bi_sector;
	struct bvec_iter iter;
	struct bio_vec bv;

	atomic_long_inc(&c_bios);
	if (bio_op(bio) != REQ_OP_READ && bio_op(bio) != REQ_OP_WRITE) {
		bio_endio(bio);
		return;
	}
	bio_for_each_segment(bv, bio, iter) {
		u8 *p = pk.data + (sector << SECTOR_SHIFT);

		if (bio_op(bio) == REQ_OP_READ)
			memcpy_to_bvec(&bv, p);
		else
			memcpy_from_bvec(p, &bv);
		sector += bv.bv_len >> SECTOR_SHIFT;
	}
	bio_endio(bio);
}

static bool pk_ctx_ok(struct swap_io_ctx *ctx)
{
	if (ctx->sis->private_data == &pk)
		return true;
	atomic_long_inc(&c_bad_context);
	return false;
}

/* Copy every page of every folio of the batch; the slot is the page index. */
static bool pk_copy_batch(struct swap_io_ctx *ctx, bool write)
{
	struct swap_iocb *sio = ctx->sio;
	int i, nr = swap_iocb_nr_folios(sio);

	for (i = 0; i < nr; i++) {
		struct folio *folio = swap_iocb_folio(sio, i);
		unsigned long slot = swp_offset(folio->swap);
		long j, n = folio_nr_pages(folio);

		if (slot + n > pk.pages)
			return false;
		if (n > 1)
			atomic_long_inc(&c_large_folios);
		for (j = 0; j < n; j++) {
			u8 *p = pk.data + (slot + j) * PAGE_SIZE;

			if (write)
				memcpy_from_page(p, folio_page(folio, j), 0, PAGE_SIZE);
			else
				memcpy_to_page(folio_page(folio, j), 0, p, PAGE_SIZE);
		}
		atomic_long_add(n, write ? &c_write_pages : &c_read_pages);
	}
	atomic_long_add(nr, write ? &c_write_folios : &c_read_folios);
	atomic_long_inc(write ? &c_write_submits : &c_read_submits);
	return true;
}

static void pk_swap_submit_write(struct swap_io_ctx *ctx)
{
	swap_write_end(ctx->sio, !pk_ctx_ok(ctx) || !pk_copy_batch(ctx, true));
}

static void pk_swap_submit_read(struct swap_io_ctx *ctx)
{
	swap_read_end(ctx->sio, !pk_ctx_ok(ctx) || !pk_copy_batch(ctx, false));
}

static void pk_swap_slot_free_notify(struct swap_info_struct *sis,
				     unsigned long offset)
{
	if (sis->private_data != &pk)
		atomic_long_inc(&c_bad_context);
	atomic_long_inc(&c_notify);
	if (!preemptible())
		atomic_long_inc(&c_notify_atomic);
	if (irqs_disabled())
		atomic_long_inc(&c_notify_irqsoff);
	/* Poison the freed slot: a read of it after this is caught by pk-hog. */
	if (offset < pk.pages)
		memset(pk.data + offset * PAGE_SIZE, 0x5a, PAGE_SIZE);
}

static const struct swap_ops pk_swap_ops = {
	.submit_write = pk_swap_submit_write,
	.submit_read = pk_swap_submit_read,
	.slot_free_notify = pk_swap_slot_free_notify,
};

static int pk_swap_activate(struct swap_info_struct *sis)
{
	atomic_long_inc(&c_activations);
	sis->ops = &pk_swap_ops;
	sis->private_data = &pk;
	return 0;
}

static const struct block_device_operations pk_fops = {
	.owner = THIS_MODULE,
	.submit_bio = pk_swapdev_submit_bio,
	.swap_activate = pk_swap_activate,
};

static int __init pk_swapdev_init(void)
{
	struct queue_limits lim = {
		.logical_block_size = PAGE_SIZE,
		.physical_block_size = PAGE_SIZE,
	};
	int ret;

	pk.pages = (unsigned long)mb << (20 - PAGE_SHIFT);
	pk.data = vzalloc(pk.pages * PAGE_SIZE);
	if (!pk.data)
		return -ENOMEM;

	pk_major = register_blkdev(0, "pkswap");
	if (pk_major < 0) {
		ret = pk_major;
		goto out_free;
	}

	pk.disk = blk_alloc_disk(&lim, NUMA_NO_NODE);
	if (IS_ERR(pk.disk)) {
		ret = PTR_ERR(pk.disk);
		goto out_unregister;
	}
	pk.disk->major = pk_major;
	pk.disk->first_minor = 0;
	pk.disk->minors = 1;
	pk.disk->fops = &pk_fops;
	pk.disk->private_data = &pk;
	snprintf(pk.disk->disk_name, DISK_NAME_LEN, "pkswap0");
	set_capacity(pk.disk, pk.pages << (PAGE_SHIFT - SECTOR_SHIFT));

	ret = add_disk(pk.disk);
	if (ret)
		goto out_put;
	pr_info("pk_swapdev: /dev/pkswap0, %u MiB, swap_activate provided\n", mb);
	return 0;

out_put:
	put_disk(pk.disk);
out_unregister:
	unregister_blkdev(pk_major, "pkswap");
out_free:
	vfree(pk.data);
	return ret;
}

static void __exit pk_swapdev_exit(void)
{
	del_gendisk(pk.disk);
	put_disk(pk.disk);
	unregister_blkdev(pk_major, "pkswap");
	vfree(pk.data);
}

module_init(pk_swapdev_init);
module_exit(pk_swapdev_exit);
MODULE_DESCRIPTION("patchkit guest test: a second block driver with its own swap_ops");
MODULE_LICENSE("GPL");
