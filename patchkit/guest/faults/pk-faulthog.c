// SPDX-License-Identifier: GPL-2.0-only
/*
 * pk-faulthog: a checksummed memory hog that survives SIGBUS, for the fault
 * tests (patchkit/guest/faults/).
 *
 * pk-hog (patchkit/guest/pk-hog.c) dies on the first SIGBUS; under injected
 * swap read errors the kernel is expected to deliver exactly that, so this
 * hog catches SIGBUS per page and keeps going.  Every page is then in one of
 * three states, and the figures count each:
 *   verified   read back equal to what was written
 *   sigbus     the kernel reported the page lost (SIGBUS on access)
 *   mismatch   read back different: silent corruption, always a failure
 * A page in none of them ("lost") means the hog never got to it.
 *
 * Every page is non-zero (zero pages never reach zram): one in two
 * compresses well, the other is random words; the content is derived from
 * (seed, page index), so a page swapped in from the wrong slot is caught.
 *
 * Usage: pk-faulthog -m MB [-s SEED] [-o] [-H DIR] [-L] [-W] [-F] [-R] [-T SECS] [-x PREFIX] [-f FILE]
 *   -m MB      region size
 *   -o         MADV_PAGEOUT the whole region after filling it
 *   -H DIR     hold: after filling create DIR/ready, verify in a loop until
 *              DIR/go exists, then verify once more (the counted pass)
 *   -L         in the hold loop, MADV_PAGEOUT after every pass (swap in and out)
 *   -W         hold without touching the pages (they stay in swap, e.g. for
 *              zram writeback, which only moves slots still in zram)
 *   -F         write 1 to /proc/self/make-it-fail after filling (the kernel's
 *              failslab / fail_page_alloc with task-filter then fail only
 *              this task's allocations); 0 again before exiting
 *   -R         after the counted pass create DIR/verified, wait for DIR/retry
 *              and access every SIGBUS page once more (with -H)
 *   -T SECS    give up waiting for a file after SECS (default 600)
 *   -x PREFIX  figure key prefix (default fhog); -f FILE figures file
 *              (default $PK_FIGURES)
 *   -X PAGE    flip one bit of PAGE after filling, -B N make the last N pages
 *              raise SIGBUS (a truncated memfd): prove the checker (unit tests)
 * Exit status: 0 no mismatch and every page verified or reported by SIGBUS,
 * 1 a mismatch, 2 the run did not finish (setup failed, gave up waiting),
 * 64 usage.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>

#include "pk-guest.h"

enum state { S_UNSEEN, S_OK, S_SIGBUS, S_BAD };

static uint64_t seed = 1;
static char *mem;
static uint64_t pages;
static sigjmp_buf jump;
static volatile sig_atomic_t in_check;
static volatile uint64_t bus_page;
static FILE *figures;
static const char *prefix = "fhog";

static inline uint64_t word(uint64_t ps, uint64_t *rng, size_t j)
{
	if ((ps & 1) && j % 4)
		return ps + j % 4;	/* compressible page: three words in four fixed */
	return next_rand(rng) | 1;
}

static void fill(uint64_t idx)
{
	uint64_t *w = (uint64_t *)(mem + idx * PAGE);
	uint64_t ps = mix64(mix64(seed) ^ idx), rng = ps | 1;
	size_t j;

	for (j = 0; j < WORDS; j++)
		w[j] = word(ps, &rng, j);
}

static int matches(uint64_t idx)
{
	const uint64_t *w = (const uint64_t *)(mem + idx * PAGE);
	uint64_t ps = mix64(mix64(seed) ^ idx), rng = ps | 1;
	size_t j;
	int ok = 1;

	for (j = 0; j < WORDS; j++)
		if (w[j] != word(ps, &rng, j))
			ok = 0;
	return ok;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!in_check) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	bus_page = ((uintptr_t)si->si_addr - (uintptr_t)mem) / PAGE;
	siglongjmp(jump, 1);
}

/* One page: S_OK, S_SIGBUS or S_BAD.  volatile: survives the longjmp. */
static enum state check(uint64_t idx)
{
	volatile enum state st = S_SIGBUS;

	if (sigsetjmp(jump, 1) == 0) {
		in_check = 1;
		st = matches(idx) ? S_OK : S_BAD;
	}
	in_check = 0;
	return st;
}

struct pass {
	uint64_t ok, sigbus, bad, first_bad;
};

static void verify(unsigned char *state, struct pass *p)
{
	uint64_t i;

	memset(p, 0, sizeof(*p));
	p->first_bad = UINT64_MAX;
	for (i = 0; i < pages; i++) {
		enum state st = check(i);

		if (state)
			state[i] = st;
		if (st == S_OK)
			p->ok++;
		else if (st == S_SIGBUS)
			p->sigbus++;
		else {
			p->bad++;
			if (p->first_bad == UINT64_MAX)
				p->first_bad = i;
		}
	}
}

static void figure(const char *key, uint64_t v)
{
	printf("  %s.%s = %llu\n", prefix, key, (unsigned long long)v);
	if (figures)
		fprintf(figures, "%s.%s %llu\n", prefix, key, (unsigned long long)v);
}

static int vmstat(const char *key, uint64_t *val)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char name[64];
	unsigned long long v;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %llu", name, &v) == 2)
		if (!strcmp(name, key)) {
			*val = v;
			fclose(f);
			return 0;
		}
	fclose(f);
	return -1;
}


static int make_it_fail(int on)
{
	FILE *f = fopen("/proc/self/make-it-fail", "w");

	if (!f)
		return -1;
	fprintf(f, "%d\n", on);
	return fclose(f);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: pk-faulthog -m MB [-s SEED] [-o] [-H DIR] [-L] [-W] [-F] [-R] [-T SECS] [-x PREFIX] [-f FILE]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	const char *hold = NULL, *fig_path = getenv("PK_FIGURES");
	int pageout = 0, loop_pageout = 0, idle_hold = 0, inject = 0, retry = 0, c, incomplete = 0;
	uint64_t mb = 0, i, in0 = 0, out0 = 0, in1 = 0, out1 = 0;
	uint64_t loops = 0, loop_bad = 0, loop_sigbus = 0, pageout_errors = 0;
	uint64_t retry_ok = 0, retry_sigbus = 0, retry_bad = 0;
	double limit = 600, t0;
	unsigned char *state;
	struct sigaction sa;
	struct pass p;

	int64_t corrupt = -1;
	uint64_t bus_pages = 0;

	while ((c = getopt(argc, argv, "m:s:oH:LWFRT:x:f:X:B:")) != -1) {
		switch (c) {
		case 'm': mb = strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'o': pageout = 1; break;
		case 'H': hold = optarg; break;
		case 'L': loop_pageout = 1; break;
		case 'W': idle_hold = 1; break;
		case 'F': inject = 1; break;
		case 'R': retry = 1; break;
		case 'T': limit = atof(optarg); break;
		case 'x': prefix = optarg; break;
		case 'f': fig_path = optarg; break;
		case 'X': corrupt = atoll(optarg); break;
		case 'B': bus_pages = strtoull(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (!mb || (retry && !hold) || bus_pages > mb * 256)
		usage();
	if (fig_path && *fig_path && !(figures = fopen(fig_path, "a"))) {
		fprintf(stderr, "pk-faulthog: cannot open %s: %s\n", fig_path, strerror(errno));
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	pages = mb * 256;
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	state = calloc(pages, 1);
	if (mem == MAP_FAILED || !state) {
		fprintf(stderr, "pk-faulthog: cannot map %llu MiB: %s\n", (unsigned long long)mb, strerror(errno));
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);

	vmstat("pswpin", &in0);
	vmstat("pswpout", &out0);
	printf("pk-faulthog: %llu pages, seed %llu\n", (unsigned long long)pages, (unsigned long long)seed);
	for (i = 0; i < pages; i++)
		fill(i);
	if (corrupt >= 0 && (uint64_t)corrupt < pages)
		mem[corrupt * PAGE + 100] ^= 1;
	if (bus_pages) {
		int fd = (int)syscall(SYS_memfd_create, "pk-faulthog", 0);
		size_t len = bus_pages * PAGE;

		if (fd < 0 || ftruncate(fd, (off_t)len) ||
		    mmap(mem + (pages - bus_pages) * PAGE, len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED || ftruncate(fd, 0)) {
			perror("pk-faulthog: -B");
			return 2;
		}
	}
	if (inject && make_it_fail(1)) {
		fprintf(stderr, "pk-faulthog: /proc/self/make-it-fail: %s\n", strerror(errno));
		return 2;
	}
	if (pageout && madvise(mem, pages * PAGE, MADV_PAGEOUT))
		pageout_errors++;

	if (hold) {
		touch(hold, "ready");
		t0 = now();
		while (!path_exists(hold, "go")) {
			if (now() - t0 > limit) {
				fprintf(stderr, "pk-faulthog: %s/go did not appear within %.0f s\n", hold, limit);
				incomplete = 1;
				break;
			}
			if (idle_hold) {
				usleep(10000);
				continue;
			}
			verify(NULL, &p);
			loops++;
			loop_bad += p.bad;
			loop_sigbus += p.sigbus;
			if (loop_pageout && madvise(mem, pages * PAGE, MADV_PAGEOUT))
				pageout_errors++;
		}
	}

	verify(state, &p);
	if (p.first_bad != UINT64_MAX)
		printf("pk-faulthog: first mismatch at page %llu\n", (unsigned long long)p.first_bad);

	if (retry) {
		touch(hold, "verified");
		t0 = now();
		while (!path_exists(hold, "retry") && now() - t0 < limit)
			usleep(10000);
		if (!path_exists(hold, "retry")) {
			fprintf(stderr, "pk-faulthog: %s/retry did not appear within %.0f s\n", hold, limit);
			incomplete = 1;
		} else {
			for (i = 0; i < pages; i++) {
				enum state st;

				if (state[i] != S_SIGBUS)
					continue;
				st = check(i);
				retry_ok += st == S_OK;
				retry_sigbus += st == S_SIGBUS;
				retry_bad += st == S_BAD;
			}
		}
	}
	if (inject)
		make_it_fail(0);
	vmstat("pswpin", &in1);
	vmstat("pswpout", &out1);

	figure("pages", pages);
	figure("verified_pages", p.ok);
	figure("sigbus_pages", p.sigbus);
	figure("mismatches", p.bad + loop_bad + retry_bad);
	figure("lost_pages", pages - p.ok - p.sigbus - p.bad);
	figure("pageout_errors", pageout_errors);
	if (hold) {
		figure("loop_passes", loops);
		figure("loop_mismatches", loop_bad);
		figure("loop_sigbus", loop_sigbus);
	}
	if (retry) {
		figure("retry_ok", retry_ok);
		figure("retry_sigbus", retry_sigbus);
		figure("retry_mismatches", retry_bad);
	}
	figure("pswpin", in1 - in0);
	figure("pswpout", out1 - out0);
	if (figures)
		fclose(figures);

	if (p.bad + loop_bad + retry_bad) {
		printf("pk-faulthog: FAIL: %llu mismatching page reads\n",
		       (unsigned long long)(p.bad + loop_bad + retry_bad));
		return 1;
	}
	if (incomplete)
		return 2;
	printf("pk-faulthog: OK: %llu verified, %llu reported by SIGBUS\n",
	       (unsigned long long)p.ok, (unsigned long long)p.sigbus);
	return 0;
}
