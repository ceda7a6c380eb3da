// SPDX-License-Identifier: GPL-2.0-only
/*
 * pk-hog: a checksummed memory hog for swap tests.
 *
 * Several processes each map an anonymous region and fill every 4 KiB page
 * with a pattern derived from (seed, process, page index).  Each page gets
 * one of four kinds, chosen by the same hash:
 *   zero   all zero bytes        (6.12 keeps these in the swap zeromap)
 *   same   one non-zero word repeated (zram stores it as ZRAM_SAME)
 *   comp   one random word in four, the rest a fixed pattern (compresses)
 *   rand   random words          (does not compress)
 * Then every page is read back and compared with the pattern recomputed
 * from its index, so a page swapped in from the wrong slot, a torn page or
 * a lost write is counted as a mismatch.
 *
 * Everything printed is measured: page counts by kind, pages verified,
 * mismatches, pswpin/pswpout deltas read from /proc/vmstat, and how each
 * process ended.  The exit status says whether the run proved anything:
 *   0  every page of every process verified, no mismatch
 *   1  at least one mismatch
 *   2  a process died or failed (e.g. OOM kill), so not every page verified
 *   64 usage error
 *
 * Usage: pk-hog -m MB [-p PROCS] [-s SEED] [-k KINDS] [-o] [-H DIR [-q]] [-f FILE] [-x PREFIX]
 *   -m MB      total memory over all processes
 *   -p PROCS   processes (default 2)
 *   -s SEED    pattern seed (default 1)
 *   -k KINDS   subset of "zscr" (zero, same, comp, rand; default all four)
 *   -o         after filling, madvise(MADV_PAGEOUT) the whole region, then
 *              until mincore() shows no page resident, ask the kernel for
 *              proactive reclaim (cgroup v2 memory.reclaim at the root):
 *              pages written to a slow disk stay in the swap cache after
 *              MADV_PAGEOUT unmapped them, and verifying would read the cache
 *              instead of the disk
 *   -H DIR     hold: when all processes have filled, create DIR/ready and
 *              keep verifying in a loop until DIR/go exists, then do the
 *              final verification (lets a script run swapoff or zram
 *              writeback while the hog is live)
 *   -q         while holding, stay idle instead of verifying in a loop
 *              (zram writeback wants the pages left alone until it ran)
 *   -T SECS    give up holding after SECS seconds (default 600)
 *   -f FILE    append "key value" figure lines to FILE (default $PK_FIGURES)
 *   -x PREFIX  prefix for figure keys (default "hog")
 *   -X PAGE    flip one bit of page PAGE of process 0 after filling (proves
 *              that the checker catches corruption; used by patchkit's tests)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "pk-guest.h"

#define MAX_PROCS 64

enum kind { K_ZERO, K_SAME, K_COMP, K_RAND, NKINDS };
static const char *kind_names[NKINDS] = { "zero", "same", "comp", "rand" };

struct child_stats {
	uint64_t pages;
	uint64_t kind_pages[NKINDS];
	uint64_t verified_pages;
	uint64_t mismatches[NKINDS];
	uint64_t loop_passes;
	uint64_t loop_mismatches;
	int64_t first_bad_page;
	int pageout_errno;	/* 0: not asked or succeeded */
	int pageout_rounds;
	uint64_t resident_after_pageout;	/* measured with mincore() */
	int filled;
	int verified;
	double fill_seconds;
	double verify_seconds;
};

struct shared {
	volatile int phase;	/* 0 fill, 1 hold (loop-verify), 2 final verify */
	struct child_stats st[MAX_PROCS];
};

static uint64_t opt_seed = 1;
static int opt_kinds[NKINDS];
static int64_t opt_corrupt = -1;
static int opt_idle_hold;
static int nkinds;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t page_seed(int proc, uint64_t idx)
{
	return mix64(mix64(opt_seed) ^ ((uint64_t)proc << 48) ^ idx);
}

static enum kind page_kind(uint64_t ps)
{
	return (enum kind)opt_kinds[(ps >> 32) % nkinds];
}

/* The j-th word of a page: fill and verify share this one definition. */
static inline uint64_t expected_word(enum kind k, uint64_t ps, uint64_t *rng, size_t j)
{
	switch (k) {
	case K_ZERO:
		return 0;
	case K_SAME:
		return ps | 1;
	case K_COMP:
		return (j % 4 == 0) ? next_rand(rng) : ps + (j % 4);
	default:
		return next_rand(rng);
	}
}

static void fill_page(uint64_t *w, int proc, uint64_t idx, struct child_stats *st)
{
	uint64_t ps = page_seed(proc, idx);
	enum kind k = page_kind(ps);
	uint64_t rng = ps | 1;
	size_t j;

	for (j = 0; j < WORDS; j++)
		w[j] = expected_word(k, ps, &rng, j);
	st->kind_pages[k]++;
}

/* Returns the kind if the page differs from its pattern, -1 if it matches. */
static int check_page(const uint64_t *w, int proc, uint64_t idx)
{
	uint64_t ps = page_seed(proc, idx);
	enum kind k = page_kind(ps);
	uint64_t rng = ps | 1;
	size_t j;
	int bad = 0;

	for (j = 0; j < WORDS; j++)
		if (w[j] != expected_word(k, ps, &rng, j))
			bad = 1;
	return bad ? (int)k : -1;
}

static uint64_t verify_region(char *mem, int proc, uint64_t pages, struct child_stats *st, int record)
{
	uint64_t i, bad = 0;
	int k;

	for (i = 0; i < pages; i++) {
		k = check_page((const uint64_t *)(mem + i * PAGE), proc, i);
		if (k >= 0) {
			bad++;
			if (record) {
				st->mismatches[k]++;
				if (st->first_bad_page < 0)
					st->first_bad_page = (int64_t)i;
			}
		}
		if (record)
			st->verified_pages++;
	}
	return bad;
}

static uint64_t resident_pages(char *mem, uint64_t pages, unsigned char *vec)
{
	uint64_t i, n = 0;

	if (mincore(mem, pages * PAGE, vec))
		return pages;
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

#define MEMORY_RECLAIM "/sys/fs/cgroup/memory.reclaim"

static void reclaim(uint64_t bytes)
{
	FILE *f = fopen(MEMORY_RECLAIM, "w");

	if (!f)
		return;
	/* EAGAIN when less than asked could be reclaimed: residency is re-measured anyway. */
	fprintf(f, "%llu", (unsigned long long)bytes);
	fclose(f);
}

static void page_out(char *mem, uint64_t pages, struct child_stats *st)
{
	unsigned char *vec = malloc(pages);
	uint64_t resident = pages, best = pages;
	int stale = 0;

	if (!vec) {
		st->pageout_errno = ENOMEM;
		return;
	}
	if (madvise(mem, pages * PAGE, MADV_PAGEOUT))
		st->pageout_errno = errno;
	st->pageout_rounds = 1;
	resident = resident_pages(mem, pages, vec);
	while (resident && !st->pageout_errno && st->pageout_rounds < 100 && stale < 10) {
		usleep(20000);
		reclaim(resident * PAGE);
		st->pageout_rounds++;
		resident = resident_pages(mem, pages, vec);
		stale = resident < best ? 0 : stale + 1;
		best = resident < best ? resident : best;
	}
	st->resident_after_pageout = resident;
	free(vec);
}

static void child(struct shared *sh, int proc, uint64_t pages, int pageout, int hold)
{
	struct child_stats *st = &sh->st[proc];
	size_t len = pages * PAGE;
	char *mem;
	uint64_t i;
	double t0;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "pk-hog[%d]: mmap %zu bytes: %s\n", proc, len, strerror(errno));
		_exit(3);
	}
	t0 = now();
	for (i = 0; i < pages; i++)
		fill_page((uint64_t *)(mem + i * PAGE), proc, i, st);
	st->pages = pages;
	if (proc == 0 && opt_corrupt >= 0 && (uint64_t)opt_corrupt < pages)
		mem[opt_corrupt * PAGE + 100] ^= 1;
	if (pageout)
		page_out(mem, pages, st);
	st->fill_seconds = now() - t0;
	__sync_synchronize();
	st->filled = 1;

	while (sh->phase < 1)
		usleep(1000);
	while (hold && !opt_idle_hold && sh->phase == 1) {
		st->loop_mismatches += verify_region(mem, proc, pages, st, 0);
		st->loop_passes++;
	}
	while (sh->phase < 2)
		usleep(1000);
	t0 = now();
	verify_region(mem, proc, pages, st, 1);
	st->verify_seconds = now() - t0;
	__sync_synchronize();
	st->verified = 1;
	_exit(0);
}

static int read_vmstat(const char *key, uint64_t *val)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char name[64];
	unsigned long long v;
	int found = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %llu", name, &v) == 2) {
		if (!strcmp(name, key)) {
			*val = v;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

static FILE *figures;
static const char *prefix = "hog";

static void figure_u(const char *key, uint64_t v)
{
	printf("  %s.%s = %llu\n", prefix, key, (unsigned long long)v);
	if (figures)
		fprintf(figures, "%s.%s %llu\n", prefix, key, (unsigned long long)v);
}

static void figure_f(const char *key, double v)
{
	printf("  %s.%s = %.3f\n", prefix, key, v);
	if (figures)
		fprintf(figures, "%s.%s %.3f\n", prefix, key, v);
}


static void usage(void)
{
	fprintf(stderr, "usage: pk-hog -m MB [-p PROCS] [-s SEED] [-k zscr] [-o] [-H DIR] [-q] [-T SECS] [-f FILE] [-x PREFIX] [-X PAGE]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	uint64_t mb = 0, pages_per_proc, in0 = 0, out0 = 0, in1 = 0, out1 = 0, in2 = 0, out2 = 0;
	int procs = 2, pageout = 0, c, i, k, dead = 0, died[MAX_PROCS] = { 0 };
	const char *hold_dir = NULL, *fig_path = getenv("PK_FIGURES"), *kinds = "zscr";
	double hold_limit = 600, t0, t_hold;
	struct shared *sh;
	pid_t pids[MAX_PROCS];
	uint64_t sum[NKINDS] = { 0 }, bad[NKINDS] = { 0 }, verified = 0, total = 0;
	uint64_t loop_passes = 0, loop_bad = 0;
	int vm_ok;

	while ((c = getopt(argc, argv, "m:p:s:k:oH:qT:f:x:X:")) != -1) {
		switch (c) {
		case 'm': mb = strtoull(optarg, NULL, 0); break;
		case 'p': procs = atoi(optarg); break;
		case 's': opt_seed = strtoull(optarg, NULL, 0); break;
		case 'k': kinds = optarg; break;
		case 'o': pageout = 1; break;
		case 'H': hold_dir = optarg; break;
		case 'q': opt_idle_hold = 1; break;
		case 'T': hold_limit = atof(optarg); break;
		case 'f': fig_path = optarg; break;
		case 'x': prefix = optarg; break;
		case 'X': opt_corrupt = atoll(optarg); break;
		default: usage();
		}
	}
	if (!mb || procs < 1 || procs > MAX_PROCS)
		usage();
	for (; *kinds; kinds++) {
		const char *pos = strchr("zscr", *kinds);

		if (!pos || nkinds == NKINDS)
			usage();
		opt_kinds[nkinds++] = (int)(pos - "zscr");
	}
	if (fig_path && *fig_path) {
		figures = fopen(fig_path, "a");
		if (!figures) {
			fprintf(stderr, "pk-hog: cannot open %s: %s\n", fig_path, strerror(errno));
			return 64;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	pages_per_proc = mb * 256 / procs;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("pk-hog: mmap shared");
		return 2;
	}
	memset(sh, 0, sizeof(*sh));
	for (i = 0; i < procs; i++)
		sh->st[i].first_bad_page = -1;

	vm_ok = !read_vmstat("pswpin", &in0) && !read_vmstat("pswpout", &out0);
	printf("pk-hog: %d processes x %llu pages, seed %llu%s%s\n", procs,
	       (unsigned long long)pages_per_proc, (unsigned long long)opt_seed,
	       pageout ? ", MADV_PAGEOUT" : "", hold_dir ? ", hold" : "");
	t0 = now();
	for (i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("pk-hog: fork");
			sh->phase = 2;
			return 2;
		}
		if (pids[i] == 0)
			child(sh, i, pages_per_proc, pageout, hold_dir != NULL);
	}

	/* Wait until every live child has filled; a child that dies stops counting. */
	for (;;) {
		int waiting = 0;

		for (i = 0; i < procs; i++) {
			int status;

			if (died[i] || sh->st[i].filled)
				continue;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				died[i] = status ? status : -1;
				dead++;
				continue;
			}
			waiting = 1;
		}
		if (!waiting)
			break;
		usleep(2000);
	}
	if (vm_ok)
		vm_ok = !read_vmstat("pswpin", &in1) && !read_vmstat("pswpout", &out1);
	printf("pk-hog: filled in %.2f s\n", now() - t0);

	t_hold = now();
	if (hold_dir) {
		if (touch(hold_dir, "ready")) {
			fprintf(stderr, "pk-hog: cannot create %s/ready: %s\n", hold_dir, strerror(errno));
			dead++;
		} else {
			sh->phase = 1;
			while (!path_exists(hold_dir, "go") && now() - t_hold < hold_limit)
				usleep(10000);
			if (!path_exists(hold_dir, "go")) {
				fprintf(stderr, "pk-hog: %s/go did not appear within %.0f s\n", hold_dir, hold_limit);
				dead++;
			}
		}
	}
	__sync_synchronize();
	sh->phase = 2;

	for (i = 0; i < procs; i++) {
		int status;

		if (died[i])
			continue;
		if (waitpid(pids[i], &status, 0) != pids[i] || status)
			died[i] = status ? status : -1;
		if (died[i])
			dead++;
	}
	if (vm_ok)
		vm_ok = !read_vmstat("pswpin", &in2) && !read_vmstat("pswpout", &out2);

	for (i = 0; i < procs; i++) {
		struct child_stats *st = &sh->st[i];

		total += st->pages;
		verified += st->verified_pages;
		loop_passes += st->loop_passes;
		loop_bad += st->loop_mismatches;
		for (k = 0; k < NKINDS; k++) {
			sum[k] += st->kind_pages[k];
			bad[k] += st->mismatches[k];
		}
		if (died[i]) {
			if (WIFSIGNALED(died[i]))
				printf("pk-hog: process %d killed by signal %d after %s\n", i, WTERMSIG(died[i]),
				       st->filled ? "filling" : "starting");
			else
				printf("pk-hog: process %d failed (status 0x%x)\n", i, died[i]);
		}
		if (st->first_bad_page >= 0)
			printf("pk-hog: process %d first mismatch at page %lld\n", i, (long long)st->first_bad_page);
		if (st->pageout_errno)
			printf("pk-hog: process %d MADV_PAGEOUT failed: %s\n", i, strerror(st->pageout_errno));
	}

	figure_u("procs", procs);
	figure_u("pages", total);
	for (k = 0; k < NKINDS; k++) {
		char key[32];

		snprintf(key, sizeof(key), "%s_pages", kind_names[k]);
		figure_u(key, sum[k]);
	}
	figure_u("nonzero_pages", total - sum[K_ZERO]);
	figure_u("verified_pages", verified);
	figure_u("mismatches", bad[0] + bad[1] + bad[2] + bad[3]);
	for (k = 0; k < NKINDS; k++) {
		char key[32];

		snprintf(key, sizeof(key), "mismatches_%s", kind_names[k]);
		if (bad[k])
			figure_u(key, bad[k]);
	}
	if (hold_dir) {
		figure_u("loop_passes", loop_passes);
		figure_u("loop_mismatches", loop_bad);
	}
	figure_u("dead_procs", dead);
	if (pageout) {
		int errs = 0;

		for (i = 0; i < procs; i++)
			errs += sh->st[i].pageout_errno != 0;
		figure_u("pageout_errors", errs);
		{
			uint64_t res = 0;
			int rounds = 0;

			for (i = 0; i < procs; i++) {
				res += sh->st[i].resident_after_pageout;
				rounds = sh->st[i].pageout_rounds > rounds ? sh->st[i].pageout_rounds : rounds;
			}
			figure_u("resident_after_pageout", res);
			figure_u("pageout_rounds", rounds);
		}
	}
	if (vm_ok) {
		figure_u("pswpout_fill", out1 - out0);
		figure_u("pswpin_fill", in1 - in0);
		figure_u("pswpout", out2 - out0);
		figure_u("pswpin", in2 - in0);
	}
	{
		double fill = 0, ver = 0;

		for (i = 0; i < procs; i++) {
			fill = sh->st[i].fill_seconds > fill ? sh->st[i].fill_seconds : fill;
			ver = sh->st[i].verify_seconds > ver ? sh->st[i].verify_seconds : ver;
		}
		figure_f("fill_seconds", fill);
		figure_f("verify_seconds", ver);
	}
	if (figures)
		fclose(figures);

	if (bad[0] + bad[1] + bad[2] + bad[3] || loop_bad) {
		printf("pk-hog: FAIL: %llu mismatching pages\n",
		       (unsigned long long)(bad[0] + bad[1] + bad[2] + bad[3] + loop_bad));
		return 1;
	}
	if (dead || verified != total) {
		printf("pk-hog: INCOMPLETE: %llu of %llu pages verified\n",
		       (unsigned long long)verified, (unsigned long long)total);
		return 2;
	}
	printf("pk-hog: OK: %llu pages verified\n", (unsigned long long)verified);
	return 0;
}
