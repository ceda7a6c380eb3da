// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Mini zram driver shaped like the real one, for patchkit tests.
 */

#include <linux/module.h>
#include <linux/blkdev.h>

#include "zram_drv.h"

static int zram_major;

static void slot_lock(struct zram *zram, u32 index)
{
	bit_spin_lock(ZRAM_LOCK, &zram->table[index].flags);
}

static void slot_unlock(struct zram *zram, u32 index)
{
	bit_spin_unlock(ZRAM_LOCK, &zram->table[index].flags);
}

static int slot_trylock(struct zram *zram, u32 index)
{
	return bit_spin_trylock(ZRAM_LOCK, &zram->table[index].flags);
}

static void mark_slot_accessed(struct zram *zram, u32 index)
{
	zram->table[index].ac_time = ktime_get_boottime();
}

static void slot_free(struct zram *zram, size_t index)
{
	zram->table[index].handle = 0;
	atomic64_dec(&zram->stats.pages_stored);
}

static int read_from_zspool(struct zram *zram, struct page *page,
				 u32 index)
{
	if (!zram->table[index].handle)
		return 0;
	return copy_from_pool(zram, page, index);
}

static ssize_t initstate_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct zram *zram = dev_to_zram(dev);
	u32 val;

	down_read(&zram->dev_lock);
	val = init_done(zram);
	up_read(&zram->dev_lock);

	return scnprintf(buf, PAGE_SIZE, "%u\n", val);
}

static void zram_slot_free_notify(struct block_device *bdev,
				  unsigned long index)
{
	struct zram *zram = bdev->bd_disk->private_data;

	atomic64_inc(&zram->stats.notify_free);
	if (!slot_trylock(zram, index)) {
		atomic64_inc(&zram->stats.miss_free);
		return;
	}

	slot_free(zram, index);
	slot_unlock(zram, index);
}

static const struct block_device_operations zram_devops = {
	.open = zram_open,
	.submit_bio = zram_submit_bio,
	.swap_slot_free_notify = zram_slot_free_notify,
	.owner = THIS_MODULE
};

static int __init zram_init(void)
{
	int ret;

	ret = register_blkdev(0, "zram");
	if (ret <= 0)
		return -EBUSY;
	zram_major = ret;
	return 0;
}

static void __exit zram_exit(void)
{
	unregister_blkdev(zram_major, "zram");
}

module_init(zram_init);
module_exit(zram_exit);
MODULE_LICENSE("Dual BSD/GPL");
