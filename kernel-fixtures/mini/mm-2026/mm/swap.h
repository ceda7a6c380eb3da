/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MM_SWAP_H
#define _MM_SWAP_H

struct swap_iocb;

#ifdef CONFIG_SWAP
/* linux/mm/page_io.c */
int sio_pool_init(void);
void swap_read_folio(struct folio *folio, struct swap_iocb **plug);
void __swap_read_unplug(struct swap_iocb *plug);
static inline void swap_read_unplug(struct swap_iocb *plug)
{
	if (unlikely(plug))
		__swap_read_unplug(plug);
}
void swap_write_unplug(struct swap_iocb *sio);
int swap_writepage(struct page *page, struct writeback_control *wbc);

#else /* CONFIG_SWAP */
static inline void swap_read_unplug(struct swap_iocb *plug)
{
}
#endif /* CONFIG_SWAP */

#endif /* _MM_SWAP_H */
