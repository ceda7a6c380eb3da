// SPDX-License-Identifier: GPL-2.0-only
/*
 * pk-rastall: many tasks swapping in shared pages through readahead at once,
 * for the sio_pool stall test (patchkit/guest/faults/fault-stall.sh).
 *
 * The parent fills a region with non-zero checksummed pages, pushes it out
 * with MADV_PAGEOUT and then forks the children, so every swap slot has a
 * swap count above one: a fault on it cannot take the skip-swapcache path
 * of a synchronous device and goes through swap readahead, which holds an
 * open read batch (a swap iocb) while it allocates the next folio.  All
 * children start together and read the whole region, each from its own
 * offset, and verify every page.  Under global memory pressure those folio
 * allocations reclaim, and reclaim's swap writes need iocbs of their own.
 *
 * While the children run, the parent samples /proc/PID/wchan of every task
 * every SAMPLE_US microseconds and counts the samples that show a task
 * waiting inside mempool_alloc(): the time tasks waited for a free element
 * of a mempool (sio_pool is the one in play here; the figure is an
 * estimate, samples times the interval).
 *
 * Usage: pk-rastall -m MB -c CHILDREN [-s SEED] [-F] [-T SECS] [-x PREFIX] [-f FILE]
 *   -F        children write 1 to /proc/self/make-it-fail before reading, so
 *             failslab / fail_page_alloc with task-filter fail only their
 *             allocations
 *   -T SECS   give up after SECS: the children are killed, and if they
 *             cannot die within KILL_GRACE_S (stuck in the kernel) the
 *             figures are written without them
 * Figures (PREFIX default "rastall"): pages, children, verified_pages,
 * mismatches, lost_pages (pages a finished child neither verified nor
 * found wrong), unfinished (children that did not finish), unverified_pages
 * (pages the unfinished children did not get to), seconds, samples,
 * pool_wait_samples, pool_wait_ms, pool_wait_max_ms (longest run of
 * samples one task spent waiting), pool_waiters (tasks seen waiting at
 * least once), timed_out.
 * Exit status: 0 every child verified every page, 1 a mismatch, 2 a child
 * did not finish (killed, timed out), 64 usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "pk-guest.h"

#define MAX_CHILDREN 128
#define MAX_PIDS 4096
#define SAMPLE_US 2000
#define KILL_GRACE_S 30

struct child_result {
	uint64_t verified;
	uint64_t mismatches;
	int done;
};

static uint64_t seed = 1;

static uint64_t page_word(uint64_t idx, size_t j)
{
	return mix64(mix64(seed) ^ (idx << 12) ^ j) | 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make_it_fail(int on)
{
	int fd = open("/proc/self/make-it-fail", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, on ? "1" : "0", 1) != 1)
			perror("pk-rastall: make-it-fail");
		close(fd);
	}
}

/* Whether the task PID is waiting in mempool_alloc() right now. */
static int in_mempool_wait(int pid)
{
	char path[64], buf[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strncmp(buf, "mempool_alloc", 13) == 0;
}

static struct {
	int pid;
	int run;	/* consecutive samples in mempool_alloc */
	int seen;
} waits[MAX_PIDS];
static int nwaits;

static int wait_slot(int pid)
{
	int i;

	for (i = 0; i < nwaits; i++)
		if (waits[i].pid == pid)
			return i;
	if (nwaits == MAX_PIDS)
		return -1;
	waits[nwaits].pid = pid;
	return nwaits++;
}

int main(int argc, char **argv)
{
	uint64_t mb = 0, pages, i, samples = 0, wait_samples = 0;
	int nchildren = 0, fail = 0, timeout = 300, opt, c, max_run = 0, waiters = 0;
	const char *prefix = "rastall", *figpath = getenv("PK_FIGURES");
	struct child_result *res;
	pid_t pids[MAX_CHILDREN];
	int start[2], alive, timed_out = 0;
	double t0, t1, killed_at = 0;
	char *mem;
	FILE *fig;

	while ((opt = getopt(argc, argv, "m:c:s:FT:x:f:")) != -1) {
		switch (opt) {
		case 'm': mb = strtoull(optarg, NULL, 0); break;
		case 'c': nchildren = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'F': fail = 1; break;
		case 'T': timeout = atoi(optarg); break;
		case 'x': prefix = optarg; break;
		case 'f': figpath = optarg; break;
		default: return 64;
		}
	}
	if (!mb || nchildren < 1 || nchildren > MAX_CHILDREN) {
		fprintf(stderr, "usage: pk-rastall -m MB -c CHILDREN(1-%d) [-s SEED] [-F] [-T SECS] [-x PREFIX] [-f FILE]\n",
			MAX_CHILDREN);
		return 64;
	}
	pages = mb * 1024 * 1024 / PAGE;
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	res = mmap(NULL, sizeof(*res) * nchildren, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || res == MAP_FAILED || pipe(start)) {
		perror("pk-rastall: setup");
		return 2;
	}
	for (i = 0; i < pages; i++) {
		uint64_t *w = (uint64_t *)(mem + i * PAGE);
		size_t j;

		for (j = 0; j < WORDS; j++)
			w[j] = page_word(i, j);
	}
	/* Out to swap while only the parent maps the pages: MADV_PAGEOUT skips shared ones. */
	for (c = 0; c < 4; c++)
		if (madvise(mem, pages * PAGE, MADV_PAGEOUT))
			perror("pk-rastall: MADV_PAGEOUT");

	for (c = 0; c < nchildren; c++) {
		pids[c] = fork();
		if (pids[c] < 0) {
			perror("pk-rastall: fork");
			nchildren = c;
			break;
		}
		if (pids[c] == 0) {
			uint64_t first = pages / nchildren * c, n;
			char go;

			close(start[1]);
			if (read(start[0], &go, 1) < 0)
				_exit(2);
			if (fail)
				make_it_fail(1);
			for (n = 0; n < pages; n++) {
				uint64_t idx = (first + n) % pages;
				const uint64_t *w = (const uint64_t *)(mem + idx * PAGE);
				size_t j;

				for (j = 0; j < WORDS; j++)
					if (w[j] != page_word(idx, j))
						break;
				if (j == WORDS)
					res[c].verified++;
				else
					res[c].mismatches++;
			}
			if (fail)
				make_it_fail(0);
			res[c].done = 1;
			_exit(res[c].mismatches ? 1 : 0);
		}
	}
	close(start[0]);
	t0 = now();
	close(start[1]);	/* every child's read() returns: go */

	alive = nchildren;
	while (alive > 0) {
		struct dirent *de;
		DIR *d;
		int st;
		pid_t p;

		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			alive--;
		if (alive <= 0)
			break;
		if (!timed_out && now() - t0 > timeout) {
			timed_out = 1;
			killed_at = now();
			for (c = 0; c < nchildren; c++)
				kill(pids[c], SIGKILL);
		}
		if (timed_out && now() - killed_at > KILL_GRACE_S) {
			fprintf(stderr, "pk-rastall: %d children still alive %d s after SIGKILL\n",
				alive, KILL_GRACE_S);
			break;
		}
		d = opendir("/proc");
		while (d && (de = readdir(d))) {
			int pid = atoi(de->d_name), s;

			if (pid <= 0 || pid == getpid())
				continue;
			s = wait_slot(pid);
			if (s < 0)
				continue;
			if (in_mempool_wait(pid)) {
				wait_samples++;
				if (!waits[s].seen++)
					waiters++;
				if (++waits[s].run > max_run)
					max_run = waits[s].run;
			} else {
				waits[s].run = 0;
			}
		}
		if (d)
			closedir(d);
		samples++;
		usleep(SAMPLE_US);
	}
	t1 = now();

	{
		uint64_t verified = 0, mismatches = 0, lost = 0, unverified = 0;
		int unfinished = 0;

		for (c = 0; c < nchildren; c++) {
			uint64_t left = pages - res[c].verified - res[c].mismatches;

			verified += res[c].verified;
			mismatches += res[c].mismatches;
			if (!res[c].done) {
				unfinished++;
				unverified += left;
			} else {
				lost += left;
			}
		}
		fig = figpath ? fopen(figpath, "a") : stdout;
		if (!fig)
			fig = stdout;
		fprintf(fig, "%s.pages %llu\n", prefix, (unsigned long long)(pages * nchildren));
		fprintf(fig, "%s.children %d\n", prefix, nchildren);
		fprintf(fig, "%s.verified_pages %llu\n", prefix, (unsigned long long)verified);
		fprintf(fig, "%s.mismatches %llu\n", prefix, (unsigned long long)mismatches);
		fprintf(fig, "%s.lost_pages %llu\n", prefix, (unsigned long long)lost);
		fprintf(fig, "%s.unfinished %d\n", prefix, unfinished);
		fprintf(fig, "%s.unverified_pages %llu\n", prefix, (unsigned long long)unverified);
		fprintf(fig, "%s.seconds %.2f\n", prefix, t1 - t0);
		fprintf(fig, "%s.samples %llu\n", prefix, (unsigned long long)samples);
		fprintf(fig, "%s.pool_wait_samples %llu\n", prefix, (unsigned long long)wait_samples);
		fprintf(fig, "%s.pool_wait_ms %llu\n", prefix,
			(unsigned long long)(wait_samples * SAMPLE_US / 1000));
		fprintf(fig, "%s.pool_wait_max_ms %d\n", prefix, max_run * SAMPLE_US / 1000);
		fprintf(fig, "%s.pool_waiters %d\n", prefix, waiters);
		fprintf(fig, "%s.timed_out %d\n", prefix, timed_out);
		if (fig != stdout)
			fclose(fig);
		if (mismatches)
			return 1;
		return unfinished ? 2 : 0;
	}
}
