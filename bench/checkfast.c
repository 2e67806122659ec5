/*
 * The fast core of check.py: scans a receiver's output for loadgen's
 * messages and prints the counts as one JSON object. check.py holds the
 * same rules in Python (its --self-test compares the two); this exists
 * because Python needs ~0.6 us a line and the full benchmark checks over
 * 500 million lines.
 *
 * usage: checkfast FILE CONNS MSGS SIZE
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct cf_counts {
	uint64_t lines;     /* every line in the file */
	uint64_t other;     /* the receiver's own records (no payload) */
	uint64_t ok;        /* lines holding exactly one intact message */
	uint64_t merged;    /* lines holding two or more message ids */
	uint64_t cut;       /* one id, but the padding or header is damaged */
	uint64_t fragments; /* payload pieces with no id at all */
	uint64_t bad_id;    /* ids outside the expected conns x msgs */
	uint64_t dup;       /* occurrences beyond the first of an id */
	uint64_t reordered; /* a seq below one already seen on its connection */
	uint64_t lost;      /* expected ids never seen, whole or damaged */
	uint64_t damaged;   /* ids seen only in merged or cut lines */
};

struct cf_state {
	uint64_t conns, msgs;
	size_t size;
	uint8_t *seen;   /* per id: bit 0 seen intact, bit 1 seen damaged */
	uint8_t *count;  /* per id: occurrences, saturating at 255 */
	int64_t *maxseq; /* per connection: highest seq seen so far */
	struct cf_counts n;
};

/* Parse decimal digits at p (before end); returns the end or NULL. */
static const char *
cf_num(const char *p, const char *end, uint64_t *v)
{
	const char *s = p;

	*v = 0;
	while (p < end && *p >= '0' && *p <= '9' && p - s < 19)
		*v = *v * 10 + (uint64_t)(*p++ - '0');
	return p == s ? NULL : p;
}

/* Find "c=" followed by a digit in [p, end); NULL if none. */
static const char *
cf_find_id(const char *p, const char *end)
{
	while (p + 2 < end) {
		const char *c = memchr(p, 'c', (size_t)(end - p - 2));
		if (c == NULL)
			return NULL;
		if (c[1] == '=' && c[2] >= '0' && c[2] <= '9')
			return c;
		p = c + 1;
	}
	return NULL;
}

/* Note one occurrence of an id; intact says whether its line was whole. */
static void
cf_note(struct cf_state *st, uint64_t c, uint64_t s, bool intact)
{
	if (c >= st->conns || s >= st->msgs) {
		st->n.bad_id++;
		return;
	}
	uint64_t i = c * st->msgs + s;
	if (st->count[i] > 0)
		st->n.dup++;
	if (st->count[i] < 255)
		st->count[i]++;
	st->seen[i] |= intact ? 1 : 2;
	if ((int64_t)s < st->maxseq[c])
		st->n.reordered++;
	else
		st->maxseq[c] = (int64_t)s;
}

/*
 * Parse "c=N s=M " at p; on success set c, s and return the first byte
 * after the header, else NULL.
 */
static const char *
cf_header(const char *p, const char *end, uint64_t *c, uint64_t *s)
{
	p = cf_num(p + 2, end, c);
	if (p == NULL || end - p < 4 || p[0] != ' ' || p[1] != 's' ||
	    p[2] != '=')
		return NULL;
	p = cf_num(p + 3, end, s);
	if (p == NULL || p >= end || *p != ' ')
		return NULL;
	return p + 1;
}

/*
 * True when a line with no id still looks like a piece of a message: it
 * ends in padding, or holds a word "s=DIGITS" at its end or before " x".
 * (A receiver's own "msgs=2 bytes=12" has no such word.)
 */
static bool
cf_is_fragment(const char *p, const char *end)
{
	const char *q;

	if (end > p && end[-1] == 'x')
		return true;
	for (q = p; q + 2 < end; q++) {
		if (q[0] != 's' || q[1] != '=' || q[2] < '0' || q[2] > '9')
			continue;
		if (q > p && q[-1] != ' ')
			continue;
		const char *d = q + 2;
		while (d < end && *d >= '0' && *d <= '9')
			d++;
		if (d == end || (*d == ' ' && (d + 1 == end || d[1] == 'x')))
			return true;
	}
	return false;
}

/* Classify one line (without its LF). */
static void
cf_line(struct cf_state *st, const char *p, const char *end)
{
	const char *id = cf_find_id(p, end), *next, *q;
	uint64_t c, s;

	st->n.lines++;
	if (id == NULL) {
		if (cf_is_fragment(p, end))
			st->n.fragments++;
		else
			st->n.other++;
		return;
	}
	next = cf_find_id(id + 3, end);
	if (next != NULL) {
		/* Merged: note every id it holds as seen, damaged. */
		st->n.merged++;
		for (; id != NULL; id = cf_find_id(id + 3, end))
			if (cf_header(id, end, &c, &s) != NULL)
				cf_note(st, c, s, false);
		return;
	}
	q = cf_header(id, end, &c, &s);
	if (q == NULL) {
		st->n.cut++;
		return;
	}
	/* The payload is exactly size-1 bytes, all 'x' after the header. */
	bool whole = (size_t)(end - id) == st->size - 1;
	for (; whole && q < end; q++)
		whole = *q == 'x';
	if (whole)
		st->n.ok++;
	else
		st->n.cut++;
	cf_note(st, c, s, whole);
}

/* Scan the file and print the counts; exit 0, or 2 on a usage error. */
int
main(int argc, char **argv)
{
	struct cf_state st;
	struct stat sb;
	const char *p, *end, *lf;
	void *map = NULL;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: checkfast FILE CONNS MSGS SIZE\n");
		return 2;
	}
	memset(&st, 0, sizeof(st));
	st.conns = strtoull(argv[2], NULL, 10);
	st.msgs = strtoull(argv[3], NULL, 10);
	st.size = (size_t)strtoull(argv[4], NULL, 10);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		fprintf(
		    stderr, "checkfast: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	st.seen = calloc(st.conns * st.msgs + 1, 1);
	st.count = calloc(st.conns * st.msgs + 1, 1);
	st.maxseq = malloc((st.conns + 1) * sizeof(*st.maxseq));
	if (st.seen == NULL || st.count == NULL || st.maxseq == NULL) {
		fprintf(stderr, "checkfast: out of memory\n");
		return 2;
	}
	for (uint64_t i = 0; i < st.conns; i++)
		st.maxseq[i] = -1;
	if (sb.st_size > 0) {
		map = mmap(
		    NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			fprintf(
			    stderr, "checkfast: mmap: %s\n", strerror(errno));
			return 2;
		}
		madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
		p = map;
		end = p + sb.st_size;
		while (p < end) {
			lf = memchr(p, '\n', (size_t)(end - p));
			if (lf == NULL)
				lf = end;
			cf_line(&st, p, lf);
			p = lf + 1;
		}
	}
	for (uint64_t i = 0; i < st.conns * st.msgs; i++) {
		if (st.seen[i] == 0)
			st.n.lost++;
		else if (st.seen[i] == 2)
			st.n.damaged++;
	}
	printf("{\"lines\":%" PRIu64 ",\"other\":%" PRIu64 ",\"ok\":%" PRIu64
	       ",\"merged\":%" PRIu64 ",\"cut\":%" PRIu64
	       ",\"fragments\":%" PRIu64 ",\"bad_id\":%" PRIu64
	       ",\"dup\":%" PRIu64 ",\"reordered\":%" PRIu64
	       ",\"lost\":%" PRIu64 ",\"damaged\":%" PRIu64 "}\n",
	    st.n.lines, st.n.other, st.n.ok, st.n.merged, st.n.cut,
	    st.n.fragments, st.n.bad_id, st.n.dup, st.n.reordered, st.n.lost,
	    st.n.damaged);
	return 0;
}
