/*
 * libFuzzer harness of source.c. The input is a hash seed and a sequence
 * of add, delete and count operations over 256 sources; every count is
 * checked against a plain array of counts indexed by the source's number,
 * each source is asked for in every form it can arrive in (an IPv4 address
 * also as IPv4-mapped IPv6), and at the end the table's slots must hold
 * exactly the sources the model has, with the model's counts.
 *
 * Input: 8 bytes of seed (missing bytes are 0), then 2 bytes an operation:
 * the first says what (bits 0-1: 0 or 1 add, 2 delete, 3 count; bit 2: an
 * IPv4 source given as IPv4-mapped IPv6; bits 3-4: done 1 to 4 times), the
 * second which source.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "source.h"

/* Sources 0-127 are IPv4, 128-191 the IPv4-compatible IPv6 forms of the
 * first 64 (the same last 4 bytes, but another source), 192-255 IPv6. */
#define NKEYS 256

/* The IPv4 address of source k (< 128), 4 bytes in network order: all
 * distinct (the second byte is k), varied in every byte. */
static void
v4_of(unsigned k, uint8_t a[4])
{
	a[0] = 10;
	a[1] = (uint8_t)k;
	a[2] = (uint8_t)(k * 37);
	a[3] = (uint8_t)(255 - k);
}

/* The 16 bytes the contract gives source k as its key. */
static void
key_bytes(unsigned k, uint8_t b[16])
{
	memset(b, 0, 16);
	if (k < 128) {
		b[10] = b[11] = 0xff;
		v4_of(k, b + 12);
	} else if (k < 192) {
		v4_of(k - 128, b + 12);
	} else {
		b[0] = 0x20;
		b[1] = 0x01;
		b[2] = 0x0d;
		b[3] = 0xb8;
		b[5] = (uint8_t)k;
		b[15] = (uint8_t)(k * 3);
	}
}

/* The key of source k through source_key, from an exactly sized socket
 * address: IPv4 sources as sockaddr_in, or as mapped sockaddr_in6. */
static void
key_from_sockaddr(unsigned k, bool mapped, struct source_key *key)
{
	struct sockaddr *sa;

	if (k < 128 && !mapped) {
		struct sockaddr_in *sin = fuzz_alloc(sizeof *sin);
		memset(sin, 0, sizeof *sin);
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)(1024 + k));
		v4_of(k, (uint8_t *)&sin->sin_addr);
		sa = (struct sockaddr *)sin;
	} else {
		struct sockaddr_in6 *sin6 = fuzz_alloc(sizeof *sin6);
		uint8_t b[16];
		memset(sin6, 0, sizeof *sin6);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)(2048 + k));
		key_bytes(k, b);
		memcpy(&sin6->sin6_addr, b, 16);
		sa = (struct sockaddr *)sin6;
	}
	memset(key, 0xa5, sizeof *key);
	source_key(sa, key);
	free(sa);
}

/* source k's count, asked for in each form, must be the model's. */
static void
check_count(const struct source_map *m, unsigned k, unsigned want)
{
	struct source_key key;
	uint8_t b[16];

	key_bytes(k, b);
	key_from_sockaddr(k, false, &key);
	FUZZ_CHECK(memcmp(key.b, b, 16) == 0);
	FUZZ_CHECK(source_count(m, &key) == want);
	if (k < 128) {
		key_from_sockaddr(k, true, &key);
		FUZZ_CHECK(memcmp(key.b, b, 16) == 0);
		FUZZ_CHECK(source_count(m, &key) == want);
	}
}

/* The table's own shape against the model: a power-of-two size at most
 * half full, and its slots exactly the sources counted, with their counts. */
static void
check_table(const struct source_map *m, const unsigned *model, size_t live)
{
	bool seen[NKEYS] = {false};
	size_t used = 0;

	FUZZ_CHECK(m->n == live);
	FUZZ_CHECK((m->cap & (m->cap - 1)) == 0);
	FUZZ_CHECK(m->n * 2 <= m->cap);
	FUZZ_CHECK(m->cap == 0 || m->slots != NULL);
	for (size_t i = 0; i < m->cap; i++) {
		const struct source_slot *s = &m->slots[i];
		unsigned k;
		uint8_t b[16];

		if (s->count == 0)
			continue;
		used++;
		for (k = 0; k < NKEYS; k++) {
			key_bytes(k, b);
			if (memcmp(s->key.b, b, 16) == 0)
				break;
		}
		FUZZ_CHECK(k < NKEYS);
		FUZZ_CHECK(!seen[k]);
		seen[k] = true;
		FUZZ_CHECK(s->count == model[k]);
	}
	FUZZ_CHECK(used == live);
	for (unsigned k = 0; k < NKEYS; k++)
		FUZZ_CHECK(seen[k] == (model[k] > 0));
}

/* One input: run its operations against the table and the model. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct source_map m = {0};
	unsigned model[NKEYS] = {0};
	size_t live = 0;
	size_t i;

	for (i = 0; i < 8 && i < size; i++)
		m.seed = m.seed << 8 | data[i];
	for (; i + 1 < size; i += 2) {
		unsigned op = data[i] & 3;
		bool mapped = data[i] & 4;
		unsigned times = 1 + (data[i] >> 3 & 3);
		unsigned k = data[i + 1];
		struct source_key key;

		key_from_sockaddr(k, mapped, &key);
		for (unsigned t = 0; t < times; t++) {
			if (op <= 1) {
				FUZZ_CHECK(source_add(&m, &key) == 0);
				if (model[k]++ == 0)
					live++;
			} else if (op == 2 && model[k] > 0) {
				/* Only what was added may be deleted. */
				source_del(&m, &key);
				if (--model[k] == 0)
					live--;
			}
		}
		check_count(&m, k, model[k]);
		FUZZ_CHECK(m.n == live);
	}
	check_table(&m, model, live);
	for (unsigned k = 0; k < NKEYS; k++)
		check_count(&m, k, model[k]);
	/* Everything away: each one as often as it was added. */
	for (unsigned k = 0; k < NKEYS; k++) {
		struct source_key key;
		key_from_sockaddr(k, k % 2 == 1, &key);
		while (model[k] > 0) {
			source_del(&m, &key);
			if (--model[k] == 0)
				live--;
		}
	}
	check_table(&m, model, 0);
	source_free(&m);
	FUZZ_CHECK(m.slots == NULL && m.cap == 0 && m.n == 0);
	return 0;
}
