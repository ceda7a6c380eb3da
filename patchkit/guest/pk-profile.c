// SPDX-License-Identifier: GPL-2.0-only
/*
 * pk-profile: the kernel's timer-tick profile, summed per kernel function.
 *
 * A kernel built with CONFIG_PROFILING and booted with profile=SHIFT counts,
 * on every timer tick, the kernel text address the CPU was at, in buckets of
 * 2^SHIFT bytes from _stext (/proc/profile: the bucket size as one unsigned
 * int, then one unsigned int per bucket).  This program maps the buckets to
 * the text symbols of /proc/kallsyms, so the guest hands the host a short
 * list of functions rather than megabytes of counters.
 *
 *   pk-profile reset     zero the counters
 *   pk-profile top N [PROFILE KALLSYMS]
 *                        print, as guest figures, "profile.samples TOTAL", then
 *                        "profile.fn.SYMBOL COUNT" for the N functions with
 *                        the most samples, most first (PROFILE and KALLSYMS
 *                        stand in for the /proc files, for tests on the host)
 *
 * Ticks in user space are not in /proc/profile at all (the kernel only counts
 * kernel addresses), so the samples are kernel time only; ticks in the idle
 * loop are, under their function names.
 * Exit status: 0, 2 on bad usage, 3 when profiling is off (no /proc/profile).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROFILE "/proc/profile"
#define KALLSYMS "/proc/kallsyms"

struct sym {
	unsigned long addr;
	char name[64];
	unsigned long count;
};

static struct sym *syms;
static size_t nsyms, capsyms;

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int by_count(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Core-kernel text symbols (modules are outside _stext.._etext). */
static int read_kallsyms(const char *path)
{
	char line[512], type, name[256], mod[256];
	unsigned long addr;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "pk-profile: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		int n = sscanf(line, "%lx %c %255s %255s", &addr, &type, name, mod);

		if (n < 3 || n == 4 || (type != 't' && type != 'T' && type != 'w' && type != 'W'))
			continue;
		if (nsyms == capsyms) {
			capsyms = capsyms ? capsyms * 2 : 4096;
			syms = realloc(syms, capsyms * sizeof(*syms));
			if (!syms) {
				fclose(f);
				perror("pk-profile");
				return -1;
			}
		}
		syms[nsyms].addr = addr;
		/* names longer than the field are cut; they stay unique enough to read */
		memcpy(syms[nsyms].name, name, sizeof(syms[nsyms].name) - 1);
		syms[nsyms].name[sizeof(syms[nsyms].name) - 1] = '\0';
		syms[nsyms].count = 0;
		nsyms++;
	}
	fclose(f);
	qsort(syms, nsyms, sizeof(*syms), by_addr);
	if (nsyms && !syms[0].addr) {
		fprintf(stderr, "pk-profile: %s shows no addresses (kptr_restrict?)\n", path);
		return -1;
	}
	return 0;
}

static struct sym *lookup(unsigned long pc)
{
	size_t lo = 0, hi = nsyms;

	/* the last symbol at or below pc */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (syms[mid].addr <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &syms[lo - 1] : NULL;
}

static unsigned long symbol_addr(const char *name)
{
	size_t i;

	for (i = 0; i < nsyms; i++)
		if (!strcmp(syms[i].name, name))
			return syms[i].addr;
	return 0;
}

static int top(long n, const char *profile, const char *kallsyms)
{
	unsigned int step, buf[4096];
	unsigned long stext, bucket = 0, total = 0, unknown = 0;
	size_t got, i;
	FILE *f = fopen(profile, "r");

	if (!f) {
		fprintf(stderr, "pk-profile: %s: %s (boot with profile=2 on a CONFIG_PROFILING kernel)\n",
			profile, strerror(errno));
		return 3;
	}
	if (fread(&step, sizeof(step), 1, f) != 1 || !step) {
		fprintf(stderr, "pk-profile: %s: no bucket size\n", profile);
		fclose(f);
		return 1;
	}
	if (read_kallsyms(kallsyms)) {
		fclose(f);
		return 1;
	}
	stext = symbol_addr("_stext");
	if (!stext) {
		fprintf(stderr, "pk-profile: no _stext in %s\n", kallsyms);
		fclose(f);
		return 1;
	}
	while ((got = fread(buf, sizeof(buf[0]), sizeof(buf) / sizeof(buf[0]), f)) > 0) {
		for (i = 0; i < got; i++, bucket++) {
			struct sym *s;

			if (!buf[i])
				continue;
			total += buf[i];
			s = lookup(stext + bucket * step);
			if (s)
				s->count += buf[i];
			else
				unknown += buf[i];
		}
	}
	fclose(f);
	qsort(syms, nsyms, sizeof(*syms), by_count);
	printf("profile.samples %lu\n", total);
	for (i = 0; i < nsyms && (long)i < n && syms[i].count; i++)
		printf("profile.fn.%s %lu\n", syms[i].name, syms[i].count);
	if (unknown)
		printf("profile.unknown %lu\n", unknown);
	return 0;
}

int main(int argc, char **argv)
{
	FILE *f;

	if (argc == 2 && !strcmp(argv[1], "reset")) {
		f = fopen(PROFILE, "w");
		if (!f)
			return 3;
		/* any write that is not exactly one int only clears the counters */
		fputs("0\n", f);
		return fclose(f) ? 1 : 0;
	}
	if ((argc == 3 || argc == 5) && !strcmp(argv[1], "top"))
		return top(strtol(argv[2], NULL, 10), argc == 5 ? argv[3] : PROFILE,
			   argc == 5 ? argv[4] : KALLSYMS);
	fprintf(stderr, "usage: pk-profile reset | pk-profile top N [PROFILE KALLSYMS]\n");
	return 2;
}
