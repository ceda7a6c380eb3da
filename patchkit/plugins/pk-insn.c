// SPDX-License-Identifier: GPL-2.0-only
/*
 * pk-insn: a QEMU TCG plugin that counts the guest instructions executed in
 * each kernel code block while the guest says a measurement is on.
 *
 * patchkit bench --clock icount loads it into qemu-system-x86_64 (built by
 * patchkit/icount.py with the host's gcc).  The guest program (pk-bench)
 * opens and closes "phases" by executing a marker instruction, a long nop
 * that no compiler emits for padding:
 *
 *	nopl 0x504bNNNN(%rax)	bytes 0f 1f 80 NN NN 4b 50
 *
 * N = 1..MAX_PHASE-1 makes phase N current, N = 0 makes none current, and
 * N = FLUSH writes the file now (the plugin also writes it when QEMU exits).
 * While phase N is current, every instruction the vCPU executes counts
 * towards it: in the kernel half of the address space per translated block
 * (keyed by its start address; the host maps those to functions with the
 * kernel's System.map), in user space as one sum.  Interrupts, kswapd and
 * every other task that runs inside the phase count too: on one vCPU that is
 * what the machine did for the workload.
 *
 * A block's count is added when the block starts, so a block cut short by a
 * fault counts whole: a few instructions per page fault, next to tens of
 * thousands per swap-in.  Counts are exact only with one vCPU, which the
 * plugin insists on (patchkit runs it under -icount, which forces that).
 *
 * Output (out=FILE), one line each:
 *	pk-insn 1
 *	phase N total INSNS user INSNS markers M
 *	k N ADDR INSNS		(per kernel block start address, hex)
 *
 * Only the few plugin API declarations used here are written out below: the
 * ABI of QEMU's plugin interface version 1 (QEMU 4.2 to 8.x), whose header
 * Debian does not ship.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum { PK_CB_NO_REGS = 0 };
enum { PK_INLINE_ADD_U64 = 0 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, int op, void *ptr,
					      uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
					    void (*cb)(unsigned int, void *), int flags,
					    void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, void *),
				    void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

EXPORT int qemu_plugin_version = 1;

#define MAX_PHASE 32
#define FLUSH 0xffff
#define KERNEL_HALF 0xffff800000000000ULL
#define BUCKETS (1 << 16)
#define MAX_BLOCKS (1 << 20)	/* kernel blocks; more are counted as "overflow" */

/*
 * The counters the translated code adds to live in one flat array, so that
 * the walk at a marker (thousands of them per workload) runs through memory
 * in order rather than chasing pointers: a marker costs well under a
 * millisecond with a hundred thousand blocks.
 */
static uint64_t *insns;		/* [MAX_BLOCKS], added to by the translated code itself */
static uint64_t *seen;		/* [MAX_BLOCKS], insns at the last marker */
static uint64_t *acc[MAX_PHASE];	/* [MAX_BLOCKS] per phase, allocated on first use */
static uint64_t *vaddrs;	/* [MAX_BLOCKS] */
static uint32_t nblocks;

struct slot {
	uint64_t vaddr;
	uint32_t id;
	struct slot *next;
};

static struct slot *buckets[BUCKETS];
static uint64_t user_insns, user_seen, user_acc[MAX_PHASE], kernel_acc[MAX_PHASE];
static uint64_t overflow_insns, overflow_seen, overflow_acc[MAX_PHASE];
static uint64_t markers[MAX_PHASE];
static unsigned int phase;
static const char *out_path;

static void *zalloc(size_t size)
{
	void *p = calloc(1, size);

	if (!p) {
		fprintf(stderr, "pk-insn: out of memory\n");
		abort();
	}
	return p;
}

/* The counter of a kernel start address: a block retranslated shorter (icount
 * does that to stop exactly at a deadline) adds its own length to the same one. */
static uint64_t *counter_for(uint64_t vaddr)
{
	size_t h = (vaddr ^ (vaddr >> 16)) & (BUCKETS - 1);
	struct slot *s;

	for (s = buckets[h]; s; s = s->next)
		if (s->vaddr == vaddr)
			return &insns[s->id];
	if (nblocks == MAX_BLOCKS)
		return &overflow_insns;
	s = zalloc(sizeof(*s));
	s->vaddr = vaddr;
	s->id = nblocks++;
	vaddrs[s->id] = vaddr;
	s->next = buckets[h];
	buckets[h] = s;
	return &insns[s->id];
}

static void write_file(void)
{
	FILE *f;
	unsigned int p;
	uint32_t i;
	char tmp[4096];

	if (!out_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", out_path);
	f = fopen(tmp, "w");
	if (!f) {
		perror(tmp);
		return;
	}
	fprintf(f, "pk-insn 1\n");
	for (p = 1; p < MAX_PHASE; p++) {
		if (!markers[p])
			continue;
		fprintf(f, "phase %u total %llu user %llu markers %llu\n", p,
			(unsigned long long)(kernel_acc[p] + user_acc[p]),
			(unsigned long long)user_acc[p], (unsigned long long)markers[p]);
		for (i = 0; acc[p] && i < nblocks; i++)
			if (acc[p][i])
				fprintf(f, "k %u %llx %llu\n", p, (unsigned long long)vaddrs[i],
					(unsigned long long)acc[p][i]);
		if (overflow_acc[p])	/* past MAX_BLOCKS: kept in the sum, at address 0 */
			fprintf(f, "k %u 0 %llu\n", p, (unsigned long long)overflow_acc[p]);
	}
	if (fclose(f) == 0)
		rename(tmp, out_path);
}

/* The guest executed a marker: charge what ran since the last one to the current phase. */
static void on_marker(unsigned int vcpu, void *udata)
{
	unsigned int next = (unsigned int)(uintptr_t)udata;
	uint64_t d, sum = 0, *a;
	uint32_t i, n = nblocks;

	(void)vcpu;
	if (phase) {
		if (!acc[phase])
			acc[phase] = zalloc(MAX_BLOCKS * sizeof(uint64_t));
		a = acc[phase];
		for (i = 0; i < n; i++) {
			d = insns[i] - seen[i];
			a[i] += d;
			sum += d;
		}
		kernel_acc[phase] += sum + (overflow_insns - overflow_seen);
		overflow_acc[phase] += overflow_insns - overflow_seen;
		user_acc[phase] += user_insns - user_seen;
	}
	memcpy(seen, insns, n * sizeof(uint64_t));
	overflow_seen = overflow_insns;
	user_seen = user_insns;
	if (next == FLUSH) {
		write_file();
		return;
	}
	phase = next < MAX_PHASE ? next : 0;
	if (phase)
		markers[phase]++;
}

static int marker_of(struct qemu_plugin_insn *insn, unsigned int *n)
{
	const unsigned char *d = qemu_plugin_insn_data(insn);

	if (qemu_plugin_insn_size(insn) != 7 || d[0] != 0x0f || d[1] != 0x1f || d[2] != 0x80 ||
	    d[5] != 0x4b || d[6] != 0x50)
		return 0;
	*n = d[3] | d[4] << 8;
	return 1;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	unsigned int m;

	(void)id;
	if (vaddr >= KERNEL_HALF) {
		qemu_plugin_register_vcpu_tb_exec_inline(tb, PK_INLINE_ADD_U64, counter_for(vaddr), n);
		return;
	}
	qemu_plugin_register_vcpu_tb_exec_inline(tb, PK_INLINE_ADD_U64, &user_insns, n);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		if (marker_of(insn, &m))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, PK_CB_NO_REGS,
							       (void *)(uintptr_t)m);
	}
}

static void at_qemu_exit(qemu_plugin_id_t id, void *udata)
{
	(void)id;
	(void)udata;
	write_file();
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			out_path = argv[i] + 4;
		else {
			fprintf(stderr, "pk-insn: unknown argument %s (want out=FILE)\n", argv[i]);
			return 1;
		}
	}
	if (!out_path) {
		fprintf(stderr, "pk-insn: no out=FILE given\n");
		return 1;
	}
	if (info->system_emulation && info->system.smp_vcpus != 1) {
		fprintf(stderr, "pk-insn: counts are exact on one vCPU only (-smp 1), not %d\n",
			info->system.smp_vcpus);
		return 1;
	}
	insns = zalloc(MAX_BLOCKS * sizeof(uint64_t));
	seen = zalloc(MAX_BLOCKS * sizeof(uint64_t));
	vaddrs = zalloc(MAX_BLOCKS * sizeof(uint64_t));
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, at_qemu_exit, NULL);
	return 0;
}
