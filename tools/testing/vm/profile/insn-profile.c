// SPDX-License-Identifier: GPL-2.0
/*
 * insn-profile: a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that counts
 * the guest kernel instructions executed at each guest PC while the guest asks
 * it to. Instruction counts do not depend on how fast the host happens to be,
 * which wall-clock benchmarks under TCG do.
 *
 *   qemu-system-x86_64 -plugin insn-profile.so,out=FILE ...
 *
 * The guest steers it with a marker, the 7-byte no-op `nopl 0x4e5453NN(%rax)`
 * (0f 1f 80 NN 53 54 4e), which the plugin recognises by its bytes when it is
 * translated, wherever it runs: NN = 1 starts counting, 2 stops it, 3 writes
 * what was counted since the previous 3 to FILE as one region and clears it.
 * Any program can issue it without privileges, and outside this plugin it does
 * nothing.
 *
 * FILE holds, per region: "region N", then "PC COUNT SPIN" lines (PC in hex,
 * ascending), then "end N TOTAL SPIN". Only PCs at or above 0xffff800000000000
 * (the kernel half) are counted, on every vCPU.
 *
 * Coverage (tools/testing/coverage) narrows the counting to the modules with
 * min=HEX and max=HEX (blocks starting in [min, max)), which also keeps the
 * rest of the kernel running at full speed, and with edges=1 adds, before
 * "end", one "edge FROM TO" line per pair of counted blocks that one vCPU ran
 * one after the other: FROM the last instruction of the first, TO the start
 * of the second. After a conditional jump the next counted block on that
 * vCPU is its target or its fall-through, unless an interrupt or a task
 * switch ran other module code in between; the report keeps only edges that
 * match the jump, so such strays drop out. Edges need max - min below 2 GiB.
 *
 * SPIN is the part of COUNT that was busy-waiting. How long a vCPU spins on a
 * lock depends on when the host runs the vCPU that holds it, not on the work
 * done, and a lock holder's vCPU thread descheduled by a busy host makes the
 * other spin for millions of instructions. The kernel's busy-wait loops
 * (spinlock slow paths, mutex and rwsem owner spinning, waits for IPIs) all
 * go through cpu_relax(), a `pause`, so a vCPU that runs a block holding a
 * `pause` again, having run at most LOOP_BLOCKS blocks since it last ran that
 * block, has just gone once more around a wait loop: that turn is spin. The
 * first and last turn of each wait count as work.
 *
 * Counting is per translation block: each time a kernel block starts, its
 * counter goes up by one, and a region credits every instruction of the block
 * with it. A block cut short by an exception still counts whole, and a
 * rep-prefixed string instruction counts once per iteration (TCG runs each
 * iteration as a separate execution of that instruction).
 *
 * The API is declared here rather than taken from QEMU's qemu-plugin.h, which
 * Debian does not package: only what this file uses, as in QEMU 7.2.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugin API, version 1 (QEMU 7.2's include/qemu/qemu-plugin.h). */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags {
	QEMU_PLUGIN_CB_NO_REGS,
	QEMU_PLUGIN_CB_R_REGS,
	QEMU_PLUGIN_CB_RW_REGS,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
					  qemu_plugin_vcpu_udata_cb_t cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
					    qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
				    void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv);

/* The plugin. */
#define KERNEL_START 0xffff800000000000ull

enum marker { MARK_ON = 1, MARK_OFF = 2, MARK_DUMP = 3 };

/*
 * One translation of a kernel block. QEMU may translate the same code more
 * than once (after a flush, or in another CPU mode), and unloading one module
 * and loading another can put different code at the same PCs, so blocks are
 * never merged: a region sums whatever ran, and clears the counters after.
 */
struct block {
	struct block *next;
	uint64_t count;	/* atomic: both vCPU threads add to them */
	uint64_t spin;
	bool pause;	/* holds a `pause` */
	size_t n;
	uint64_t pc[];
};

/* Longer than any wait loop's body, shorter than lock, work, unlock, relock. */
#define LOOP_BLOCKS 8
#define MAX_VCPUS 64

/* What a vCPU ran since its last block with a `pause`; only its own thread touches it. */
struct vcpu {
	uint64_t last_pc;	/* last instruction of the previous counted block, for edges */
	uint64_t pause_pc;
	struct block *since[LOOP_BLOCKS];
	unsigned int n;	/* LOOP_BLOCKS + 1: too many to be one turn of a loop */
};

struct sample {
	uint64_t pc, count, spin;
};

static struct block *blocks;	/* newest first; appended under lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool counting;		/* atomic */
static unsigned int region;	/* under lock */
static FILE *out;
static struct vcpu vcpus[MAX_VCPUS];
static uint64_t pc_min = KERNEL_START, pc_max = UINT64_MAX;

/*
 * Edges as keys 1 << 63 | (FROM - pc_min) << 32 | (TO - pc_min) in an open
 * addressing set that both vCPU threads insert into without a lock. A full
 * set drops new edges and says so in the dump.
 */
#define EDGE_SLOTS (1u << 20)
static uint64_t *edges;
static uint64_t edges_dropped;	/* atomic */

static void edge_add(uint64_t from, uint64_t to)
{
	uint64_t key = 1ull << 63 | (from - pc_min) << 32 | (to - pc_min);
	uint64_t h = key * 0x9e3779b97f4a7c15ull >> 44, i;

	for (i = 0; i < EDGE_SLOTS; i++) {
		uint64_t *slot = &edges[(h + i) & (EDGE_SLOTS - 1)];
		uint64_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);

		if (cur == key)
			return;
		if (!cur && __atomic_compare_exchange_n(slot, &cur, key, false, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
			return;
		if (cur == key)
			return;
	}
	__atomic_fetch_add(&edges_dropped, 1, __ATOMIC_RELAXED);
}

static void block_exec(unsigned int vcpu_index, void *udata)
{
	struct block *b = udata;
	struct vcpu *v;
	unsigned int i;

	if (!__atomic_load_n(&counting, __ATOMIC_RELAXED))
		return;
	__atomic_fetch_add(&b->count, 1, __ATOMIC_RELAXED);
	if (vcpu_index >= MAX_VCPUS)
		return;
	v = &vcpus[vcpu_index];
	if (edges) {
		if (v->last_pc)
			edge_add(v->last_pc, b->pc[0]);
		v->last_pc = b->pc[b->n - 1];
	}
	if (!b->pause) {
		if (v->n < LOOP_BLOCKS)
			v->since[v->n] = b;
		if (v->n <= LOOP_BLOCKS)
			v->n++;
		return;
	}
	if (v->pause_pc == b->pc[0] && v->n <= LOOP_BLOCKS) {
		for (i = 0; i < v->n; i++)
			__atomic_fetch_add(&v->since[i]->spin, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&b->spin, 1, __ATOMIC_RELAXED);
	}
	v->pause_pc = b->pc[0];
	v->n = 0;
}

static int by_pc(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;

	return x->pc < y->pc ? -1 : x->pc > y->pc;
}

/* Writes the counts since the last dump as one region, merged per PC, and clears them. */
static void dump(void)
{
	struct sample *s = NULL;
	size_t n = 0, cap = 0, i, m;
	uint64_t total = 0, spin = 0;
	struct block *b;

	pthread_mutex_lock(&lock);
	for (b = blocks; b; b = b->next) {
		uint64_t c = __atomic_exchange_n(&b->count, 0, __ATOMIC_RELAXED);
		uint64_t sc = __atomic_exchange_n(&b->spin, 0, __ATOMIC_RELAXED);

		if (!c)
			continue;
		if (n + b->n > cap) {
			cap = (n + b->n) * 2;
			s = realloc(s, cap * sizeof(*s));
			if (!s)
				abort();
		}
		for (i = 0; i < b->n; i++)
			s[n++] = (struct sample){ b->pc[i], c, sc < c ? sc : c };
	}
	qsort(s, n, sizeof(*s), by_pc);
	region++;
	fprintf(out, "region %u\n", region);
	for (i = 0; i < n; i = m) {
		uint64_t c = 0, sc = 0;

		for (m = i; m < n && s[m].pc == s[i].pc; m++) {
			c += s[m].count;
			sc += s[m].spin;
		}
		fprintf(out, "%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", s[i].pc, c, sc);
		total += c;
		spin += sc;
	}
	for (i = 0; edges && i < EDGE_SLOTS; i++) {
		uint64_t key = __atomic_exchange_n(&edges[i], 0, __ATOMIC_RELAXED);

		if (key)
			fprintf(out, "edge %" PRIx64 " %" PRIx64 "\n",
				pc_min + (key >> 32 & 0x7fffffff), pc_min + (key & 0xffffffff));
	}
	if (edges && __atomic_load_n(&edges_dropped, __ATOMIC_RELAXED))
		fprintf(out, "edges-dropped %" PRIu64 "\n",
			__atomic_exchange_n(&edges_dropped, 0, __ATOMIC_RELAXED));
	fprintf(out, "end %u %" PRIu64 " %" PRIu64 "\n", region, total, spin);
	fflush(out);
	pthread_mutex_unlock(&lock);
	free(s);
}

static void marker_exec(unsigned int vcpu, void *udata)
{
	switch ((uintptr_t)udata) {
	case MARK_ON:
		__atomic_store_n(&counting, true, __ATOMIC_RELAXED);
		break;
	case MARK_OFF:
		__atomic_store_n(&counting, false, __ATOMIC_RELAXED);
		break;
	case MARK_DUMP:
		dump();
		break;
	}
}

static bool is_pause(const struct qemu_plugin_insn *insn)
{
	const uint8_t *p = qemu_plugin_insn_data(insn);

	return qemu_plugin_insn_size(insn) == 2 && p[0] == 0xf3 && p[1] == 0x90;
}

/* The marker's operation, or 0 if this is any other instruction. */
static int marker_of(const struct qemu_plugin_insn *insn)
{
	static const uint8_t tail[] = { 0x53, 0x54, 0x4e };
	const uint8_t *p = qemu_plugin_insn_data(insn);

	if (qemu_plugin_insn_size(insn) != 7 || p[0] != 0x0f || p[1] != 0x1f || p[2] != 0x80 ||
	    memcmp(p + 4, tail, sizeof(tail)))
		return 0;
	return p[3] >= MARK_ON && p[3] <= MARK_DUMP ? p[3] : 0;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	struct block *b;
	uint64_t start;

	if (!n)
		return;
	start = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, 0));
	if (start < KERNEL_START) {
		for (i = 0; i < n; i++) {
			struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
			int op = marker_of(insn);

			if (op)
				qemu_plugin_register_vcpu_insn_exec_cb(insn, marker_exec,
								       QEMU_PLUGIN_CB_NO_REGS,
								       (void *)(uintptr_t)op);
		}
		return;
	}
	if (start < pc_min || start >= pc_max)
		return;

	b = malloc(sizeof(*b) + n * sizeof(b->pc[0]));
	if (!b)
		abort();
	b->count = 0;
	b->spin = 0;
	b->pause = false;
	b->n = n;
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		b->pc[i] = qemu_plugin_insn_vaddr(insn);
		b->pause |= is_pause(insn);
	}
	pthread_mutex_lock(&lock);
	b->next = blocks;
	blocks = b;
	pthread_mutex_unlock(&lock);
	qemu_plugin_register_vcpu_tb_exec_cb(tb, block_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *path = NULL;
	bool edges_wanted = false;
	int i;

	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			path = argv[i] + 4;
		else if (!strncmp(argv[i], "min=", 4))
			pc_min = strtoull(argv[i] + 4, NULL, 16);
		else if (!strncmp(argv[i], "max=", 4))
			pc_max = strtoull(argv[i] + 4, NULL, 16);
		else if (!strcmp(argv[i], "edges=1"))
			edges_wanted = true;
	}
	if (pc_min < KERNEL_START)
		pc_min = KERNEL_START;
	if (edges_wanted) {
		if (pc_max - pc_min > 1ull << 31) {
			fprintf(stderr, "insn-profile: edges=1 needs max - min below 2 GiB\n");
			return -1;
		}
		edges = calloc(EDGE_SLOTS, sizeof(*edges));
		if (!edges)
			abort();
	}
	/* QEMU's stderr, not qemu_plugin_outs(), which only prints under -d plugin. */
	if (!path) {
		fprintf(stderr, "insn-profile: give the output file as out=FILE\n");
		return -1;
	}
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
