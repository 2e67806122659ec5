/* Clients at once per source address, for --max-per-source. Pure. */
#ifndef PEERLOG_SOURCE_H
#define PEERLOG_SOURCE_H

#include <stddef.h>
#include <sys/socket.h>

/* A source: its IP address as 16 bytes (IPv4 in its IPv4-mapped form). */
struct source_key {
	unsigned char b[16];
};

struct source_slot {
	struct source_key key;
	unsigned count; /* 0: the slot is free */
};

/* An open-addressing table of the sources with clients connected. */
struct source_map {
	struct source_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;   /* slots in use */
	unsigned long long seed;
};

/* The key of a socket address (IPv4, IPv6 or IPv4-mapped IPv6). */
void source_key(const struct sockaddr *sa, struct source_key *k);

/* Clients counted for k. */
unsigned source_count(const struct source_map *m, const struct source_key *k);

/* Count one more client for k; 0, or -1 when memory ran out. */
int source_add(struct source_map *m, const struct source_key *k);

/* Count one client less for k (it must have been added). */
void source_del(struct source_map *m, const struct source_key *k);

/* Free the table. */
void source_free(struct source_map *m);

#endif
