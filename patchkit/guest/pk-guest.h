/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What patchkit's guest C programs (pk-hog, pk-faulthog, pk-bench) share:
 * the libc headers they all use, the page geometry, MADV_PAGEOUT for libc
 * headers older than the kernel, and the generators their page patterns
 * are made from.  A program's pattern is its own; these only feed it.
 */
#ifndef PK_GUEST_H
#define PK_GUEST_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint64_t))

/* splitmix64's finaliser: a well-spread 64-bit value from any input. */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* xorshift64*: the next word of a stream seeded with a non-zero *s. */
static inline uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Whether DIR/NAME exists: the hogs' handshake files with their scripts. */
static inline int path_exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0;
}

/* Create the empty file DIR/NAME; 0 or -1. */
static inline int touch(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	return fclose(f);
}

#endif /* PK_GUEST_H */
