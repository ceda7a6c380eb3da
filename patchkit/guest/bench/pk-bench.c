// SPDX-License-Identifier: GPL-2.0-only
/*
 * pk-bench: the guest side of `patchkit bench` (swap through zram, measured).
 *
 *   pk-bench swapout -m MB [-c CHUNK_MB]
 *	Fill MB of anonymous memory (more than guest RAM), one compressible,
 *	non-zero page at a time, and time it.  With -c, every CHUNK_MB written
 *	is pushed to zram at once with MADV_PAGEOUT (deterministic: each page
 *	goes out once, through the same reclaim code, and a tiny guest cannot
 *	run into a premature OOM kill); without, reclaim pushes the overflow.
 *	Swap-out throughput is the pages pswpout counted during the fill over
 *	its time; system CPU is the "system" column of /proc/stat (every CPU,
 *	so kswapd counts too).  Afterwards every 4th page is read back and
 *	checked (not timed): a kernel that loses data gets no figure.
 *
 *   pk-bench latency -m MB -k STRIDE [-w] [-d DISK]
 *	Fill MB, push it all to swap with MADV_PAGEOUT, evict what stayed in the
 *	swap cache (memory.reclaim, else a balloon), optionally (-w) mark every zram slot idle and
 *	write the idle ones back to zram's backing device, drop caches, then
 *	fault in every STRIDE-th page with a first read, timing each fault in
 *	TSC cycles.  A sampled fault is "cold" when it was a major fault
 *	(getrusage ru_majflt moved), i.e. it really read swap; the latency
 *	figures are over cold faults, and the share of cold faults is reported
 *	beside them, with the backing-device reads per sample (zram bd_stat and
 *	DISK's own I/O counter): the two confounders of the numbers the
 *	series' author published.
 *
 *   pk-bench swapout -m MB -f CAL_MB
 *	Without -c: the fill is pushed out by reclaim alone (kswapd and direct
 *	reclaim).  -f first fills CAL_MB that fit in memory, timed the same
 *	way, so the host can take the cost of filling a page (first-touch fault,
 *	zeroing, the pattern) out of the reclaim figure.
 *
 *   pk-bench swapoff -m MB
 *	Fill MB, push it to swap, evict the swap cache, then time swapoff of
 *	/dev/zram0, which reads every page back in (swapoff.cycles, pswpin).
 *
 *   pk-bench exit -m MB
 *	A child fills MB, pushes it to swap, evicts the swap cache and exits;
 *	the time from its last instruction to the parent's return from
 *	waitpid() is the exit that frees every swap slot (zram's
 *	slot_free_notify path: io_stat notify_free counts them).
 *
 *   pk-bench tsc
 *	Print the TSC rate measured against CLOCK_MONOTONIC over half a second
 *	(run on the host: "tsc_mhz N").
 *
 * Under `patchkit bench --clock icount` (QEMU -icount shift=0,sleep=off, one
 * vCPU) the TSC advances one tick per guest instruction, so every "cycles"
 * figure is an instruction count, and it repeats from boot to boot.  Each
 * timed region is also bracketed by a phase marker (PHASE() below) for the
 * host's instruction-counting plugin (patchkit/plugins/pk-insn.c), which
 * splits the same region per kernel function.
 *
 * Why cycles: a minimal guest under QEMU's TCG cannot calibrate its TSC (no
 * HPET or PM timer) and falls back to the jiffies clocksource, so
 * clock_gettime() moves in 4 ms steps and, on a loaded host, loses ticks.
 * The TSC the guest reads is the host's (TCG and KVM alike), so patchkit
 * converts cycles to time with the rate `pk-bench tsc` measures on the
 * host.  Figures in seconds or ns computed in the guest (from its own
 * clock, or its own TSC calibration) are printed too, for a reader of a
 * single boot, but patchkit bench uses the cycles.
 *
 * Every run also reports the swap I/O counters of the base layer
 * (/sys/kernel/debug/swap_io; "n/a" on a kernel without them) and zram0's
 * own request counters (/sys/block/zram0/stat), per phase.
 *
 * Output: "key value" lines on stdout (patchkit's figure format).  Exit
 * status: 0 measured, 1 a page read back wrong, 2 the machine refused
 * (mmap, madvise, sysfs), 64 usage error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <x86intrin.h>

#include "pk-guest.h"
#define SWAP_IO "/sys/kernel/debug/swap_io/"
#define ZRAM "/sys/block/zram0/"
#define QUANTILES 256

/*
 * Phase markers for pk-insn (patchkit/plugins/pk-insn.c): a 7-byte nop,
 * "nopl 0x504bNNNN(%rax)", that starts phase N (0: none).  On hardware or
 * without the plugin it is a nop.  The numbers are shared with
 * patchkit/icount.py (PHASES).
 */
#define PH_NONE		0
#define PH_RECLAIM	1	/* swap-out fill pushed by reclaim */
#define PH_PAGEOUT	2	/* the MADV_PAGEOUT calls */
#define PH_ZSPOOL	3	/* cold swap-in faults from the zram pool */
#define PH_WRITEBACK	4	/* cold swap-in faults from written-back slots */
#define PH_SWAPOFF	5	/* swapoff */
#define PH_EXIT		6	/* exit of a process whose pages are in swap */
#define PH_FILL		7	/* the calibration fill, no reclaim */
#define PH_FLUSH	0xffff	/* plugin: write the counts out now */
#define PHASE(n) __asm__ volatile("nopl 0x504b0000+%c0(%%rax)" : : "i"(n) : "memory")

static const char *swap_io_names[4] = {
	"read_submits", "read_folios", "write_submits", "write_folios"
};

struct snap {
	double t;		/* CLOCK_MONOTONIC seconds */
	unsigned long long tsc;
	long long pswpin, pswpout;
	long long pgscan, pgsteal;	/* kswapd + direct + khugepaged: reclaim work */
	long long sys_ticks;	/* /proc/stat cpu "system" */
	long long swap_io[4];	/* -1: no such counter on this kernel */
	long long zram_rd, zram_wr;	/* /sys/block/zram0/stat requests */
	long long bd_reads;	/* zram bd_stat, -1 without writeback */
	long long disk_rd;	/* backing disk read requests, -1 without */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_small(const char *path, char *buf, size_t size);

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CLOCK_MONOTONIC right after it moved: the start of a tick on a jiffies clocksource. */
static long long clock_edge(unsigned long long *tsc)
{
	long long t0 = now_ns(), t;

	while ((t = now_ns()) == t0)
		;
	*tsc = __rdtsc();
	return t;
}

/*
 * TSC cycles per ns against CLOCK_MONOTONIC over SECS seconds, from one
 * clock step to another (so a 4 ms jiffies clock costs a few us of error,
 * not 4 ms).  Exact on a host with a TSC clocksource; in a TCG guest only
 * as good as its jiffies (see above).
 */
static double tsc_calibrate(double secs)
{
	unsigned long long c0, c1;
	long long t0 = clock_edge(&c0), t1;
	struct timespec ts = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };

	nanosleep(&ts, NULL);
	t1 = clock_edge(&c1);
	return (double)(c1 - c0) / (double)(t1 - t0);
}

static char clocksource[64];

static void clock_figures(double cycles_per_ns)
{
	char *nl;

	if (read_small("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		       clocksource, sizeof(clocksource)))
		strcpy(clocksource, "unknown");
	nl = strchr(clocksource, '\n');
	if (nl)
		*nl = 0;
	printf("lat.clocksource %s\n", clocksource);
	printf("lat.guest_tsc_mhz %.3f\n", cycles_per_ns * 1000);
}

/* The whole of a small file into buf; -1 if it cannot be read. */
static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static int write_small(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static long long read_ll(const char *path)
{
	char buf[64];

	if (read_small(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 10);
}

/* The n-th (0-based) number of a whitespace-separated file; -1 if absent. */
static long long nth_field(const char *path, int n)
{
	char buf[512], *p = buf, *end;
	long long v = -1;
	int i;

	if (read_small(path, buf, sizeof(buf)))
		return -1;
	for (i = 0; i <= n; i++) {
		v = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	return v;
}

static long long vmstat(const char *key)
{
	static char buf[16384];
	size_t len = strlen(key);
	char *p;

	if (read_small("/proc/vmstat", buf, sizeof(buf)))
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, len) && p[len] == ' ')
			return strtoll(p + len + 1, NULL, 10);
	return -1;
}

static long long meminfo_kb(const char *key)
{
	static char buf[8192];
	size_t len = strlen(key);
	char *p;

	if (read_small("/proc/meminfo", buf, sizeof(buf)))
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, len) && p[len] == ':')
			return strtoll(p + len + 1, NULL, 10);
	return -1;
}

static long long sys_ticks(void)
{
	char buf[512];
	long long v[3];

	if (read_small("/proc/stat", buf, sizeof(buf)) ||
	    sscanf(buf, "cpu %lld %lld %lld", &v[0], &v[1], &v[2]) != 3)
		return -1;
	return v[2];
}

static char disk_stat_path[128];

static void take(struct snap *s)
{
	char path[128];
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), SWAP_IO "%s", swap_io_names[i]);
		s->swap_io[i] = read_ll(path);
	}
	s->zram_rd = nth_field(ZRAM "stat", 0);
	s->zram_wr = nth_field(ZRAM "stat", 4);
	s->bd_reads = nth_field(ZRAM "bd_stat", 1);
	s->disk_rd = disk_stat_path[0] ? nth_field(disk_stat_path, 0) : -1;
	s->pswpin = vmstat("pswpin");
	s->pswpout = vmstat("pswpout");
	s->pgscan = vmstat("pgscan_kswapd") + vmstat("pgscan_direct") + vmstat("pgscan_khugepaged");
	s->pgsteal = vmstat("pgsteal_kswapd") + vmstat("pgsteal_direct") + vmstat("pgsteal_khugepaged");
	s->sys_ticks = sys_ticks();
	s->t = now();
	s->tsc = __rdtsc();
}

static void fig_ll(const char *key, long long v)
{
	if (v < 0)
		printf("%s n/a\n", key);
	else
		printf("%s %lld\n", key, v);
}

static void fig_ratio(const char *key, double num, double den, double scale, int ok)
{
	if (!ok || den <= 0)
		printf("%s n/a\n", key);
	else
		printf("%s %.3f\n", key, num * scale / den);
}

/* Counters of one phase: base-layer batching and zram0 requests per page. */
static void io_figures(const char *pfx, const struct snap *a, const struct snap *b)
{
	long long d[4], pages = (b->pswpin - a->pswpin) + (b->pswpout - a->pswpout);
	int have = 1, i;
	char key[96];

	for (i = 0; i < 4; i++) {
		d[i] = (a->swap_io[i] < 0 || b->swap_io[i] < 0) ? -1 : b->swap_io[i] - a->swap_io[i];
		have &= d[i] >= 0;
		snprintf(key, sizeof(key), "%s.%s", pfx, swap_io_names[i]);
		fig_ll(key, d[i]);
	}
	snprintf(key, sizeof(key), "%s.read_folios_per_submit", pfx);
	fig_ratio(key, d[1], d[0], 1, have);
	snprintf(key, sizeof(key), "%s.write_folios_per_submit", pfx);
	fig_ratio(key, d[3], d[2], 1, have);
	snprintf(key, sizeof(key), "%s.submits_per_1000_pages", pfx);
	fig_ratio(key, d[0] + d[2], pages, 1000, have);
	snprintf(key, sizeof(key), "%s.zram_requests", pfx);
	fig_ll(key, (b->zram_rd - a->zram_rd) + (b->zram_wr - a->zram_wr));
	snprintf(key, sizeof(key), "%s.zram_requests_per_1000_pages", pfx);
	fig_ratio(key, (b->zram_rd - a->zram_rd) + (b->zram_wr - a->zram_wr), pages, 1000,
		  a->zram_rd >= 0);
	snprintf(key, sizeof(key), "%s.swapped_pages", pfx);
	fig_ll(key, pages);
}

/* Page i's pattern: one word in four from a hash, the rest a fixed text (compresses ~3:1). */
static void fill_page(uint64_t *w, unsigned long i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL;
	unsigned long j;

	for (j = 0; j < WORDS; j++) {
		if (j % 4 == 0) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w[j] = x | 1;
		} else {
			w[j] = 0x6b6e696c68637461ULL + j;	/* "patchkit"-ish, non-zero */
		}
	}
}

static int page_ok(const uint64_t *w, unsigned long i)
{
	uint64_t want[WORDS];

	fill_page(want, i);
	return !memcmp(w, want, PAGE);
}

static char *map_region(unsigned long pages)
{
	void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "pk-bench: mmap of %lu pages: %s\n", pages, strerror(errno));
		exit(2);
	}
	/* 4 KiB folios only: the author's numbers and zram's slots are per page */
	madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
	return p;
}

static unsigned long verify(char *r, unsigned long pages, unsigned long stride)
{
	unsigned long i, bad = 0;

	for (i = 0; i < pages; i += stride)
		bad += !page_ok((uint64_t *)(r + i * PAGE), i);
	return bad;
}

/* Cycles to fill CAL_MB that fit in memory: what a page of the fill costs without reclaim. */
static void fill_calibration(unsigned long cal_mb)
{
	unsigned long pages = cal_mb * (1024 * 1024 / PAGE), i;
	long long out0 = vmstat("pswpout");
	unsigned long long t0, t1;
	char *r = map_region(pages);

	t0 = __rdtsc();
	PHASE(PH_FILL);
	for (i = 0; i < pages; i++)
		fill_page((uint64_t *)(r + i * PAGE), i);
	PHASE(PH_NONE);
	t1 = __rdtsc();
	printf("swapout.fill_cal_pages %lu\n", pages);
	printf("swapout.fill_cal_cycles %llu\n", t1 - t0);
	/* a calibration that swapped is not one: the host refuses the figure */
	fig_ll("swapout.fill_cal_pswpout", vmstat("pswpout") - out0);
	munmap(r, pages * PAGE);
}

static int swapout(unsigned long mb, unsigned long chunk_mb, unsigned long cal_mb)
{
	unsigned long pages = mb * (1024 * 1024 / PAGE), i, bad, done = 0;
	unsigned long chunk = chunk_mb * (1024 * 1024 / PAGE);
	unsigned long long pageout_cycles = 0, t0, t1, tf0, tf1;
	struct snap a, b;
	double secs, gib;
	long long swapped;
	char *r;
	long hz = sysconf(_SC_CLK_TCK);

	if (cal_mb)
		fill_calibration(cal_mb);
	r = map_region(pages);
	take(&a);
	tf0 = __rdtsc();
	if (!chunk)
		PHASE(PH_RECLAIM);
	for (i = 0; i < pages; i++) {
		fill_page((uint64_t *)(r + i * PAGE), i);
		if (chunk && (i + 1 - done == chunk || i + 1 == pages)) {
			t0 = __rdtsc();
			PHASE(PH_PAGEOUT);
			if (madvise(r + done * PAGE, (i + 1 - done) * PAGE, MADV_PAGEOUT)) {
				fprintf(stderr, "pk-bench: madvise(MADV_PAGEOUT): %s\n", strerror(errno));
				return 2;
			}
			PHASE(PH_NONE);
			t1 = __rdtsc();
			pageout_cycles += t1 - t0;
			done = i + 1;
		}
	}
	PHASE(PH_NONE);
	tf1 = __rdtsc();
	take(&b);
	printf("swapout.fill_cycles %llu\n", tf1 - tf0);
	printf("swapout.fill_pages %lu\n", pages);
	if (chunk)
		printf("swapout.pageout_cycles %llu\n", pageout_cycles);
	secs = b.t - a.t;
	swapped = b.pswpout - a.pswpout;
	gib = swapped * (double)PAGE / (1 << 30);
	printf("swapout.fill_mb %lu\n", mb);
	printf("swapout.chunk_mb %lu\n", chunk_mb);
	printf("swapout.seconds %.3f\n", secs);
	printf("swapout.cycles %llu\n", b.tsc - a.tsc);
	printf("swapout.fill_mb_s %.2f\n", mb / secs);
	fig_ll("swapout.pswpout", swapped);
	printf("swapout.mb_s %.2f\n", swapped * (double)PAGE / (1 << 20) / secs);
	printf("swapout.pages_s %.0f\n", swapped / secs);
	printf("swapout.sys_s %.2f\n", (double)(b.sys_ticks - a.sys_ticks) / hz);
	fig_ratio("swapout.sys_s_per_gib", (double)(b.sys_ticks - a.sys_ticks) / hz, gib, 1,
		  swapped > 0 && a.sys_ticks >= 0);
	io_figures("swapout.io", &a, &b);
	/* reclaim work beyond the MADV_PAGEOUT passes, and what stayed in the swap cache */
	printf("swapout.pgscan %lld\n", b.pgscan - a.pgscan);
	printf("swapout.pgsteal %lld\n", b.pgsteal - a.pgsteal);
	printf("swapout.swapcache_end_kb %lld\n", meminfo_kb("SwapCached"));
	/* every 4th page: catches a kernel that loses or mixes up data, in a quarter of the time */
	bad = verify(r, pages, 4);
	printf("swapout.verified_pages %lu\n", (pages + 3) / 4);
	printf("swapout.bad_pages %lu\n", bad);
	munmap(r, pages * PAGE);
	if (swapped <= 0) {
		fprintf(stderr, "pk-bench: the fill swapped nothing out: no figure\n");
		return 2;
	}
	return bad ? 1 : 0;
}

/* Reclaim the swap cache through the root cgroup's memory.reclaim; 0 if that is not possible. */
static int evict_swapcache(void)
{
	const char *knob = "/sys/fs/cgroup/memory.reclaim";
	char amount[32];
	long long kb;
	int tries;

	if (access(knob, W_OK))
		mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	if (access(knob, W_OK))
		return 0;
	for (tries = 0; tries < 8; tries++) {
		kb = meminfo_kb("SwapCached");
		if (kb < 1024)
			return 1;
		snprintf(amount, sizeof(amount), "%lldK", kb);
		write_small(knob, amount);	/* -EAGAIN when short of the target: loop */
	}
	return meminfo_kb("SwapCached") < 1024;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static long long pct(const long long *v, unsigned long n, double p)
{
	unsigned long k = (unsigned long)(p / 100.0 * n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* avg/p50/p99/p999/max in cycles, and avg/p50/p99 in ns by the guest's own TSC rate. */
static void latency_stats(const char *pfx, long long *v, unsigned long n, double cycles_per_ns)
{
	unsigned long i;
	double sum = 0;

	printf("%s.samples %lu\n", pfx, n);
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_ll);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("%s.avg_cycles %.0f\n", pfx, sum / n);
	printf("%s.p50_cycles %lld\n", pfx, pct(v, n, 50));
	printf("%s.p99_cycles %lld\n", pfx, pct(v, n, 99));
	printf("%s.p999_cycles %lld\n", pfx, pct(v, n, 99.9));
	printf("%s.max_cycles %lld\n", pfx, v[n - 1]);
	printf("%s.guest_avg_ns %.0f\n", pfx, sum / n / cycles_per_ns);
	printf("%s.guest_p50_ns %.0f\n", pfx, pct(v, n, 50) / cycles_per_ns);
	printf("%s.guest_p99_ns %.0f\n", pfx, pct(v, n, 99) / cycles_per_ns);
}

/* Evenly spaced quantiles of the sorted samples: the distribution, small enough for a console line. */
static void quantiles(const char *key, const long long *v, unsigned long n)
{
	unsigned long q, m = n < QUANTILES ? n : QUANTILES;

	if (!n)
		return;
	printf("%s ", key);
	for (q = 0; q < m; q++)
		printf("%s%lld", q ? "," : "", v[m == 1 ? 0 : q * (n - 1) / (m - 1)]);
	printf("\n");
}

static int latency(unsigned long mb, unsigned long stride, int writeback)
{
	unsigned long pages = mb * (1024 * 1024 / PAGE), n = (pages + stride - 1) / stride;
	unsigned long i, s, ncold = 0, bad;
	long long *lat = calloc(n, sizeof(*lat)), *cold = calloc(n, sizeof(*cold));
	long long bd0 = 0, bd_total = 0, balloon_kb;
	struct snap a, b;
	struct rusage ru;
	char *r = map_region(pages), *balloon;

	double cycles_per_ns = tsc_calibrate(0.5);

	if (!lat || !cold)
		return 2;
	if (cycles_per_ns <= 0) {
		fprintf(stderr, "pk-bench: the TSC does not tick against CLOCK_MONOTONIC\n");
		return 2;
	}
	clock_figures(cycles_per_ns);
	for (i = 0; i < pages; i++)
		fill_page((uint64_t *)(r + i * PAGE), i);
	if (madvise(r, pages * PAGE, MADV_PAGEOUT)) {
		fprintf(stderr, "pk-bench: madvise(MADV_PAGEOUT): %s\n", strerror(errno));
		return 2;
	}
	printf("lat.swapcache_after_pageout_kb %lld\n", meminfo_kb("SwapCached"));
	/*
	 * Pages whose write was still in flight when reclaim looked at them stay
	 * in the swap cache; a fault on them is a cheap minor fault.  Push them
	 * out, so that every kernel starts cold: by proactive reclaim of the
	 * root cgroup (memory.reclaim takes the inactive list first, where
	 * those clean folios wait), else by the pressure of a balloon.
	 */
	if (evict_swapcache())
		printf("lat.evict memory.reclaim\n");
	else {
		balloon_kb = meminfo_kb("MemFree") + meminfo_kb("SwapCached") + 16384;
		if (balloon_kb > 1024 * 1024)	/* a guest has less; a run on a big host must not eat it */
			balloon_kb = 1024 * 1024;
		balloon = map_region(balloon_kb / 4);
		for (i = 0; i < (unsigned long)balloon_kb / 4; i++)
			fill_page((uint64_t *)(balloon + i * PAGE), i);
		munmap(balloon, balloon_kb / 4 * PAGE);
		printf("lat.evict balloon\n");
		printf("lat.balloon_mb %lld\n", balloon_kb / 1024);
	}
	if (writeback) {
		if (write_small(ZRAM "idle", "all") || write_small(ZRAM "writeback", "idle")) {
			fprintf(stderr, "pk-bench: zram idle/writeback: %s\n", strerror(errno));
			return 2;
		}
		fig_ll("lat.bd_count", nth_field(ZRAM "bd_stat", 0));
		fig_ll("lat.bd_writes", nth_field(ZRAM "bd_stat", 2));
	}
	sync();
	write_small("/proc/sys/vm/drop_caches", "3");
	printf("lat.swapcache_before_kb %lld\n", meminfo_kb("SwapCached"));

	take(&a);
	for (i = 0, s = 0; i < pages; i += stride, s++) {
		volatile char *p = r + i * PAGE;
		long majflt;
		unsigned long long t0, t1;

		if (writeback)
			bd0 = nth_field(ZRAM "bd_stat", 1);
		getrusage(RUSAGE_SELF, &ru);
		majflt = ru.ru_majflt;
		t0 = __rdtsc();
		if (writeback)
			PHASE(PH_WRITEBACK);
		else
			PHASE(PH_ZSPOOL);
		(void)*p;
		PHASE(PH_NONE);
		t1 = __rdtsc();
		getrusage(RUSAGE_SELF, &ru);
		lat[s] = t1 - t0;
		if (ru.ru_majflt != majflt)
			cold[ncold++] = lat[s];
		if (writeback)
			bd_total += nth_field(ZRAM "bd_stat", 1) - bd0;
	}
	take(&b);
	printf("lat.stride %lu\n", stride);
	printf("lat.region_mb %lu\n", mb);
	printf("lat.cold_faults %lu\n", ncold);
	printf("lat.cold_share %.4f\n", (double)ncold / s);
	latency_stats("lat.cold", cold, ncold, cycles_per_ns);
	latency_stats("lat.all", lat, s, cycles_per_ns);
	quantiles("lat.cold_quantiles_cycles", cold, ncold);
	fig_ll("lat.pswpin", b.pswpin - a.pswpin);
	if (writeback) {
		fig_ratio("lat.bd_reads_per_sample", bd_total, s, 1, 1);
		fig_ratio("lat.disk_reads_per_sample", b.disk_rd - a.disk_rd, s, 1, a.disk_rd >= 0);
	}
	io_figures("lat.io", &a, &b);
	bad = verify(r, pages, stride);
	printf("lat.bad_pages %lu\n", bad);
	munmap(r, pages * PAGE);
	return bad ? 1 : 0;
}

/* Fill MB, push it all to swap and out of the swap cache: every page's data is in zram only. */
static char *swapped_region(unsigned long pages)
{
	char *r = map_region(pages);
	unsigned long i;

	for (i = 0; i < pages; i++)
		fill_page((uint64_t *)(r + i * PAGE), i);
	if (madvise(r, pages * PAGE, MADV_PAGEOUT)) {
		fprintf(stderr, "pk-bench: madvise(MADV_PAGEOUT): %s\n", strerror(errno));
		exit(2);
	}
	evict_swapcache();
	return r;
}

static int swapoff_bench(unsigned long mb)
{
	unsigned long pages = mb * (1024 * 1024 / PAGE), bad;
	long long in0, out0 = vmstat("pswpout");
	unsigned long long t0, t1;
	char *r = swapped_region(pages);

	printf("swapoff.swapped_pages %lld\n", vmstat("pswpout") - out0);
	printf("swapoff.swapcache_before_kb %lld\n", meminfo_kb("SwapCached"));
	in0 = vmstat("pswpin");
	t0 = __rdtsc();
	PHASE(PH_SWAPOFF);
	if (swapoff("/dev/zram0")) {
		PHASE(PH_NONE);
		fprintf(stderr, "pk-bench: swapoff /dev/zram0: %s\n", strerror(errno));
		return 2;
	}
	PHASE(PH_NONE);
	t1 = __rdtsc();
	printf("swapoff.cycles %llu\n", t1 - t0);
	fig_ll("swapoff.pswpin", vmstat("pswpin") - in0);
	bad = verify(r, pages, 1);
	printf("swapoff.verified_pages %lu\n", pages);
	printf("swapoff.bad_pages %lu\n", bad);
	munmap(r, pages * PAGE);
	return bad ? 1 : 0;
}

static int exit_bench(unsigned long mb)
{
	unsigned long pages = mb * (1024 * 1024 / PAGE);
	volatile unsigned long long *shared;
	long long free0, out0, status_pages;
	unsigned long long t1;
	int status;
	pid_t pid;

	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		fprintf(stderr, "pk-bench: mmap of the shared page: %s\n", strerror(errno));
		return 2;
	}
	shared[0] = 0;
	free0 = nth_field(ZRAM "io_stat", 3);
	out0 = vmstat("pswpout");
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pk-bench: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		swapped_region(pages);
		shared[1] = (unsigned long long)(vmstat("pswpout") - out0);
		shared[2] = (unsigned long long)meminfo_kb("SwapCached");
		PHASE(PH_EXIT);
		shared[0] = __rdtsc();
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid) {
		PHASE(PH_NONE);
		fprintf(stderr, "pk-bench: waitpid: %s\n", strerror(errno));
		return 2;
	}
	t1 = __rdtsc();
	PHASE(PH_NONE);
	if (!WIFEXITED(status) || WEXITSTATUS(status) || !shared[0]) {
		fprintf(stderr, "pk-bench: the child did not exit cleanly (status %#x)\n", status);
		return 2;
	}
	status_pages = (long long)shared[1];
	printf("exit.swapped_pages %lld\n", status_pages);
	printf("exit.swapcache_before_kb %llu\n", shared[2]);
	printf("exit.cycles %llu\n", t1 - shared[0]);
	/* zram's own count of slot_free_notify calls; -1 (n/a) on a kernel without io_stat */
	fig_ll("exit.notify_free", free0 < 0 ? -1 : nth_field(ZRAM "io_stat", 3) - free0);
	munmap((void *)shared, PAGE);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: pk-bench swapout -m MB [-c CHUNK_MB] [-f CAL_MB]\n"
			"       pk-bench latency -m MB -k STRIDE [-w] [-d DISK]\n"
			"       pk-bench swapoff -m MB\n"
			"       pk-bench exit -m MB\n"
			"       pk-bench tsc\n");
	return 64;
}

int main(int argc, char **argv)
{
	unsigned long mb = 0, stride = 16, chunk_mb = 0, cal_mb = 0;
	int rc;
	int writeback = 0, opt;
	const char *cmd;

	if (argc < 2)
		return usage();
	cmd = argv[1];
	if (!strcmp(cmd, "tsc") && argc == 2) {
		printf("tsc_mhz %.3f\n", tsc_calibrate(0.5) * 1000);
		return 0;
	}
	optind = 2;
	while ((opt = getopt(argc, argv, "m:k:c:f:wd:")) != -1) {
		switch (opt) {
		case 'm':
			mb = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			stride = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			chunk_mb = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			cal_mb = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			writeback = 1;
			break;
		case 'd':
			snprintf(disk_stat_path, sizeof(disk_stat_path), "/sys/block/%s/stat", optarg);
			break;
		default:
			return usage();
		}
	}
	if (!mb || !stride)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "swapout"))
		rc = swapout(mb, chunk_mb, cal_mb);
	else if (!strcmp(cmd, "latency"))
		rc = latency(mb, stride, writeback);
	else if (!strcmp(cmd, "swapoff"))
		rc = swapoff_bench(mb);
	else if (!strcmp(cmd, "exit"))
		rc = exit_bench(mb);
	else
		return usage();
	PHASE(PH_FLUSH);
	return rc;
}
