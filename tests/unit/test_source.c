/* Unit tests of source.c: keys of IPv4, IPv6 and IPv4-mapped addresses,
 * counting per key, deletion in the middle of probe clusters (entries past
 * the freed slot must be shifted back, or they are lost), growth. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/un.h>

#include "source.h"
#include "tap.h"

/* A socket address of any family the server sees. */
union sa {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
};

/* The key of a numeric address (IPv4 or IPv6) with a port. */
static struct source_key
key_of(const char *ip, unsigned port)
{
	union sa u;
	struct source_key k;

	memset(&u, 0, sizeof(u));
	if (inet_pton(AF_INET, ip, &u.sin.sin_addr) == 1) {
		u.sin.sin_family = AF_INET;
		u.sin.sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, ip, &u.sin6.sin6_addr) == 1) {
		u.sin6.sin6_family = AF_INET6;
		u.sin6.sin6_port = htons((uint16_t)port);
	} else
		abort();
	memset(&k, 0x5a, sizeof(k));
	source_key(&u.sa, &k);
	return k;
}

/* The 16 bytes of a numeric IPv6 address, the expected key. */
static struct source_key
bytes_of(const char *ip6)
{
	struct source_key k;

	if (inet_pton(AF_INET6, ip6, k.b) != 1)
		abort();
	return k;
}

/* Key number i of a large set: IPv4 10.x.y.z for even i, IPv6
 * 2001:db8::i for odd i; all distinct, sharing most of their bytes. */
static struct source_key
key_n(uint32_t i)
{
	struct source_key k;

	memset(&k, 0, sizeof(k));
	if (i % 2 == 0) {
		uint32_t a = 0x0a000000u + i / 2;
		k.b[10] = k.b[11] = 0xff;
		k.b[12] = (unsigned char)(a >> 24);
		k.b[13] = (unsigned char)(a >> 16);
		k.b[14] = (unsigned char)(a >> 8);
		k.b[15] = (unsigned char)a;
	} else {
		k.b[0] = 0x20;
		k.b[1] = 0x01;
		k.b[2] = 0x0d;
		k.b[3] = 0xb8;
		k.b[12] = (unsigned char)(i >> 24);
		k.b[13] = (unsigned char)(i >> 16);
		k.b[14] = (unsigned char)(i >> 8);
		k.b[15] = (unsigned char)i;
	}
	return k;
}

/* Keys of each family, and what must be (and must not be) the same key. */
static void
test_key(void)
{
	struct source_key k, want;
	union sa u;

	k = key_of("192.0.2.7", 1);
	want = bytes_of("::ffff:192.0.2.7");
	is_mem(k.b, 16, want.b, 16, "key: IPv4 is kept in its mapped form");
	k = key_of("::ffff:192.0.2.7", 2);
	is_mem(k.b, 16, want.b, 16,
	    "key: IPv4-mapped IPv6 is the same key as the IPv4 address");
	k = key_of("2001:db8::1:2", 3);
	want = bytes_of("2001:db8::1:2");
	is_mem(k.b, 16, want.b, 16, "key: IPv6 is its 16 bytes");
	k = key_of("::", 4);
	want = bytes_of("::");
	is_mem(k.b, 16, want.b, 16, "key: the IPv6 any address");
	k = key_of("0.0.0.0", 4);
	want = bytes_of("::ffff:0.0.0.0");
	is_mem(k.b, 16, want.b, 16, "key: IPv4 0.0.0.0 is not IPv6 ::");

	k = key_of("192.0.2.7", 1);
	want = key_of("192.0.2.7", 65535);
	is_mem(k.b, 16, want.b, 16, "key: the port does not matter (IPv4)");
	k = key_of("2001:db8::9", 1);
	want = key_of("2001:db8::9", 65535);
	is_mem(k.b, 16, want.b, 16, "key: the port does not matter (IPv6)");

	memset(&u, 0, sizeof(u));
	u.sin6.sin6_family = AF_INET6;
	u.sin6.sin6_flowinfo = htonl(0x12345);
	u.sin6.sin6_scope_id = 3;
	if (inet_pton(AF_INET6, "fe80::1", &u.sin6.sin6_addr) != 1)
		abort();
	source_key(&u.sa, &k);
	want = bytes_of("fe80::1");
	is_mem(
	    k.b, 16, want.b, 16, "key: flow label and scope id do not matter");

	k = key_of("::192.0.2.7", 5);
	want = key_of("192.0.2.7", 5);
	ok(memcmp(k.b, want.b, 16) != 0,
	    "key: IPv4-compatible ::192.0.2.7 is not the IPv4 address");
	k = key_of("192.0.2.7", 5);
	want = key_of("192.0.2.8", 5);
	ok(memcmp(k.b, want.b, 16) != 0, "key: two IPv4 addresses differ");

	memset(&u, 0, sizeof(u));
	u.sun.sun_family = AF_UNIX;
	memset(&k, 0x5a, sizeof(k));
	source_key(&u.sa, &k);
	memset(&want, 0, sizeof(want));
	is_mem(k.b, 16, want.b, 16, "key: another family is all zeros");
}

/* An empty table, never allocated. */
static void
test_empty(void)
{
	struct source_map m = {0};
	struct source_key k = key_of("192.0.2.1", 0);

	is_int(source_count(&m, &k), 0, "empty: a count is 0");
	source_free(&m);
	is_int(source_count(&m, &k), 0, "empty: freeing an empty table is ok");
	ok(m.slots == NULL && m.cap == 0 && m.n == 0,
	    "empty: a freed empty table is still empty");
}

/* One key added, counted, deleted; the mapped form counts the same. */
static void
test_one(void)
{
	struct source_map m = {0};
	struct source_key v4 = key_of("192.0.2.1", 1000);
	struct source_key mapped = key_of("::ffff:192.0.2.1", 2000);
	struct source_key other = key_of("192.0.2.2", 1000);

	is_int(source_add(&m, &v4), 0, "one: add succeeds");
	is_int(source_count(&m, &v4), 1, "one: counted once");
	is_int(source_count(&m, &mapped), 1,
	    "one: the IPv4-mapped address shares the count");
	is_int(source_count(&m, &other), 0, "one: another address is 0");
	is_size(m.n, 1, "one: one slot in use");
	ok(m.cap > 0 && (m.cap & (m.cap - 1)) == 0,
	    "one: the table's size is a power of two");
	is_int(source_add(&m, &mapped), 0, "one: add the mapped form");
	is_int(source_count(&m, &v4), 2, "one: the same source, twice");
	is_size(m.n, 1, "one: still one slot in use");
	for (int i = 0; i < 98; i++)
		source_add(&m, &v4);
	is_int(source_count(&m, &v4), 100, "one: counted to 100");
	is_size(m.n, 1, "one: 100 clients of one source use one slot");
	for (int i = 0; i < 99; i++)
		source_del(&m, &mapped);
	is_int(source_count(&m, &v4), 1, "one: 99 deleted, 1 left");
	is_size(m.n, 1, "one: the slot is still used");
	source_del(&m, &v4);
	is_int(source_count(&m, &v4), 0, "one: the last one deleted");
	is_size(m.n, 0, "one: no slot in use");
	is_int(source_add(&m, &v4), 0, "one: added again");
	is_int(source_count(&m, &v4), 1, "one: counted again from 1");
	source_free(&m);
	ok(m.slots == NULL && m.cap == 0 && m.n == 0,
	    "one: source_free empties the table");
	is_int(source_count(&m, &v4), 0, "one: a freed table counts 0");
	is_int(source_add(&m, &v4), 0, "one: a freed table can be used again");
	is_int(source_count(&m, &v4), 1, "one: and counts");
	source_free(&m);
}

/* Where k sits in a table of its own (seed given): its home slot. */
static size_t
home_of(unsigned long long seed, const struct source_key *k, size_t *cap)
{
	struct source_map m = {0};
	size_t home = SIZE_MAX;

	m.seed = seed;
	if (source_add(&m, k) != 0)
		abort();
	for (size_t i = 0; i < m.cap; i++)
		if (m.slots[i].count > 0)
			home = i;
	*cap = m.cap;
	source_free(&m);
	return home;
}

/* Where k sits in m, or SIZE_MAX. */
static size_t
slot_of(const struct source_map *m, const struct source_key *k)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].count > 0 &&
		    memcmp(&m->slots[i].key, k, sizeof(*k)) == 0)
			return i;
	return SIZE_MAX;
}

/* Find a key of home slot h (in a table of the first size), from key
 * number *next on; the number found is consumed. */
static struct source_key
key_at_home(unsigned long long seed, size_t h, uint32_t *next)
{
	for (;;) {
		struct source_key k = key_n((*next)++);
		size_t cap;
		if (home_of(seed, &k, &cap) == h)
			return k;
		if (*next > 1000000)
			abort();
	}
}

/*
 * A probe cluster built on purpose: three keys of home h, one of h + 1
 * behind them, one of h + 4 at its own home. Deleting the first must move
 * the others back so that each is still found; one already at its home
 * must stay. Then the same around the end of the table (wrapping to 0).
 */
static void
test_cluster(unsigned long long seed, size_t h, const char *where)
{
	struct source_map m = {0};
	uint32_t next = 0;
	size_t cap;
	struct source_key k0 = key_n(0);

	home_of(seed, &k0, &cap);
	m.seed = seed;
	size_t mask = cap - 1;
	struct source_key a = key_at_home(seed, h, &next);
	struct source_key b = key_at_home(seed, h, &next);
	struct source_key c = key_at_home(seed, h, &next);
	struct source_key d = key_at_home(seed, (h + 1) & mask, &next);
	struct source_key e = key_at_home(seed, (h + 4) & mask, &next);
	/* Slots h..h+4 hold a b c d e; e is at its home. */
	source_add(&m, &a);
	source_add(&m, &b);
	source_add(&m, &c);
	source_add(&m, &d);
	source_add(&m, &e);
	source_add(&m, &c);
	source_add(&m, &d);
	source_add(&m, &d);
	ok(m.cap == cap && slot_of(&m, &a) == h &&
	        slot_of(&m, &b) == ((h + 1) & mask) &&
	        slot_of(&m, &c) == ((h + 2) & mask) &&
	        slot_of(&m, &d) == ((h + 3) & mask) &&
	        slot_of(&m, &e) == ((h + 4) & mask),
	    "cluster %s: the cluster is laid out as planned", where);

	source_del(&m, &a);
	is_int(
	    source_count(&m, &a), 0, "cluster %s: the deleted key is 0", where);
	is_int(source_count(&m, &b), 1,
	    "cluster %s: a key of the same home behind it is found", where);
	is_int(source_count(&m, &c), 2,
	    "cluster %s: the next of the same home is found", where);
	is_int(source_count(&m, &d), 3,
	    "cluster %s: a key of the next home pushed behind is found", where);
	is_int(source_count(&m, &e), 1,
	    "cluster %s: a key at its own home is found", where);
	ok(slot_of(&m, &b) == h && slot_of(&m, &c) == ((h + 1) & mask) &&
	        slot_of(&m, &d) == ((h + 2) & mask),
	    "cluster %s: the keys behind were shifted back", where);
	is_size(slot_of(&m, &e), (h + 4) & mask,
	    "cluster %s: the key at its home stayed", where);
	is_size(m.n, 4, "cluster %s: four slots in use", where);

	/* Deleting from the middle (c), then d: b and e still found. */
	source_del(&m, &c);
	source_del(&m, &c);
	is_int(source_count(&m, &c), 0, "cluster %s: middle deleted", where);
	is_int(source_count(&m, &d), 3,
	    "cluster %s: the key behind the middle is found", where);
	for (int i = 0; i < 3; i++)
		source_del(&m, &d);
	is_int(source_count(&m, &b), 1, "cluster %s: b after all", where);
	is_int(source_count(&m, &d), 0, "cluster %s: d deleted", where);
	is_int(source_count(&m, &e), 1, "cluster %s: e after all", where);
	is_size(m.n, 2, "cluster %s: two slots in use", where);
	source_free(&m);
}

/* The keys test_many deletes: every other one, IPv4 and IPv6 alike. */
static bool
gone(uint32_t i)
{
	return i % 4 == 0 || i % 4 == 3;
}

/* Many sources: 10,000 distinct keys, counted 1 to 3 times each; every
 * other one deleted; the rest still right, the deleted ones 0. */
static void
test_many(unsigned long long seed)
{
	enum { N = 10000 };
	struct source_map m = {0};
	bool good = true;
	size_t bad = 0;

	m.seed = seed;
	for (uint32_t i = 0; i < N; i++) {
		struct source_key k = key_n(i);
		for (uint32_t j = 0; j <= i % 3; j++)
			if (source_add(&m, &k) != 0)
				abort();
	}
	is_size(m.n, N, "many (seed %llx): %d slots in use", seed, N);
	for (uint32_t i = 0; i < N; i++) {
		struct source_key k = key_n(i);
		if (source_count(&m, &k) != i % 3 + 1)
			good = false;
	}
	ok(good, "many (seed %llx): every count is right", seed);

	/* Every other key away (both families), one client at a time. */
	for (uint32_t i = 0; i < N; i++) {
		struct source_key k = key_n(i);
		if (gone(i))
			for (uint32_t j = 0; j <= i % 3; j++)
				source_del(&m, &k);
	}
	is_size(m.n, N / 2, "many (seed %llx): half the slots in use", seed);
	good = true;
	for (uint32_t i = 0; i < N; i++) {
		struct source_key k = key_n(i);
		unsigned want = gone(i) ? 0 : i % 3 + 1;
		if (source_count(&m, &k) != want) {
			good = false;
			if (bad++ < 5)
				diag("key %u: got %u expected %u", i,
				    source_count(&m, &k), want);
		}
	}
	ok(good, "many (seed %llx): after deleting half, every count right",
	    seed);

	/* One client less of each remaining key. */
	good = true;
	for (uint32_t i = 0; i < N; i++) {
		struct source_key k = key_n(i);
		if (!gone(i))
			source_del(&m, &k);
	}
	for (uint32_t i = 0; i < N; i++) {
		struct source_key k = key_n(i);
		unsigned want = gone(i) ? 0 : i % 3;
		if (source_count(&m, &k) != want)
			good = false;
	}
	ok(good, "many (seed %llx): one less of each, every count right", seed);

	/* Everything away: the table is empty again. */
	for (uint32_t i = 0; i < N; i++) {
		struct source_key k = key_n(i);
		if (!gone(i))
			while (source_count(&m, &k) > 0)
				source_del(&m, &k);
	}
	is_size(m.n, 0, "many (seed %llx): all deleted, no slot in use", seed);
	size_t used = 0;
	for (size_t i = 0; i < m.cap; i++)
		used += m.slots[i].count > 0;
	is_size(used, 0, "many (seed %llx): no slot holds a count", seed);
	source_free(&m);
}

/* Growth: the table doubles, stays at most half full, and keeps every
 * count across each doubling. */
static void
test_growth(void)
{
	struct source_map m = {0};
	bool shape = true, kept = true;
	int grew = 0;

	for (uint32_t i = 0; i < 5000; i++) {
		size_t before = m.cap;
		struct source_key k = key_n(i * 7);
		if (source_add(&m, &k) != 0)
			abort();
		if (m.cap != before) {
			grew++;
			if (before != 0 && m.cap != before * 2)
				shape = false;
			for (uint32_t j = 0; j <= i; j++) {
				struct source_key o = key_n(j * 7);
				if (source_count(&m, &o) != 1)
					kept = false;
			}
		}
		if (m.n != i + 1 || (m.cap & (m.cap - 1)) != 0 ||
		    m.n * 2 > m.cap)
			shape = false;
	}
	ok(grew >= 7, "growth: the table grew (%d times)", grew);
	ok(shape, "growth: doubles, a power of two, at most half full");
	ok(kept, "growth: every count survives each doubling");
	source_free(&m);
}

/* Different seeds place keys differently but count the same. */
static void
test_seeds(void)
{
	struct source_key k = key_n(12345);
	size_t cap, h1 = home_of(1, &k, &cap), h2 = SIZE_MAX;
	bool moved = false;

	for (unsigned long long s = 2; s < 50 && !moved; s++) {
		h2 = home_of(s, &k, &cap);
		moved = h2 != h1;
	}
	ok(moved, "seeds: the seed changes where a key goes");
}

/* Run every source-table test. */
int
main(void)
{
	test_key();
	test_empty();
	test_one();
	test_cluster(0, 10, "inside");
	test_cluster(0x9e3779b97f4a7c15ull, 62, "wrapping around the end");
	test_cluster(77, 0, "at slot 0");
	test_many(0);
	test_many(0x9e3779b97f4a7c15ull);
	test_many(0xffffffffffffffffull);
	test_growth();
	test_seeds();
	return done_testing();
}
