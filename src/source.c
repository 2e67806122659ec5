/* Clients per source address: linear probing, backward-shift deletion. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

/* The key of a socket address (see source.h). */
void
source_key(const struct sockaddr *sa, struct source_key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		k->b[10] = k->b[11] = 0xff;
		memcpy(k->b + 12, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		memcpy(k->b, &sin6->sin6_addr, 16);
	}
}

/* Where k's slot is, or the free slot it would take. */
static size_t
source_find(const struct source_map *m, const struct source_key *k)
{
	unsigned long long h = m->seed ^ 0xcbf29ce484222325ull;

	for (size_t i = 0; i < 16; i++)
		h = (h ^ k->b[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].count == 0 ||
		    memcmp(&m->slots[i].key, k, sizeof(*k)) == 0)
			return i;
}

/* Clients counted for k (see source.h). */
unsigned
source_count(const struct source_map *m, const struct source_key *k)
{
	if (m->cap == 0)
		return 0;
	return m->slots[source_find(m, k)].count;
}

/* Double the table (or make it); -1 when memory ran out. */
static int
source_grow(struct source_map *m)
{
	struct source_map g = *m;

	g.cap = m->cap > 0 ? m->cap * 2 : 64;
	g.slots = calloc(g.cap, sizeof(*g.slots));
	if (g.slots == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].count > 0)
			g.slots[source_find(&g, &m->slots[i].key)] =
			    m->slots[i];
	free(m->slots);
	*m = g;
	return 0;
}

/* Count one more client for k (see source.h). */
int
source_add(struct source_map *m, const struct source_key *k)
{
	/* At most half full: probes stay short. */
	if ((m->n + 1) * 2 > m->cap && source_grow(m) != 0)
		return -1;
	struct source_slot *s = &m->slots[source_find(m, k)];
	if (s->count == 0) {
		s->key = *k;
		m->n++;
	}
	s->count++;
	return 0;
}

/* Count one client less for k (see source.h). */
void
source_del(struct source_map *m, const struct source_key *k)
{
	if (m->cap == 0)
		return;
	size_t i = source_find(m, k);
	if (m->slots[i].count == 0 || --m->slots[i].count > 0)
		return;
	m->n--;
	/* Shift back the entries that probed past the freed slot. */
	for (size_t j = (i + 1) & (m->cap - 1); m->slots[j].count > 0;
	     j = (j + 1) & (m->cap - 1)) {
		struct source_slot e = m->slots[j];
		m->slots[j].count = 0;
		m->slots[source_find(m, &e.key)] = e;
	}
}

/* Free the table (see source.h). */
void
source_free(struct source_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
