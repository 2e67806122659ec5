/* Sockets to listen on: resolved, bound and set up in one place. */
#ifndef PEERLOG_SOCK_H
#define PEERLOG_SOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

/* Addresses one ADDR may stand for, at most. */
#define SOCK_PER_ADDR 16

/*
 * Resolve a (at start-up: blocking is fine) and bind a non-blocking socket
 * of type (SOCK_STREAM: listening) on each address it stands for, with
 * SO_REUSEPORT set before the bind when reuseport (--reuseport). opt is
 * the option that named it ("--tcp"), for messages. Stores the descriptors
 * in fds (room for SOCK_PER_ADDR) and returns how many, or -1 with err
 * naming the address as the user typed it and the reason (every socket
 * made is closed again). *:PORT on a host without IPv6 binds IPv4 alone and
 * says so on standard error.
 */
int sock_bind(const struct addr_spec *a, int type, bool reuseport,
    const char *opt, int *fds, char *err, size_t errlen);

/*
 * Take a socket made by someone else (a service manager): it must be an
 * IPv4 or IPv6 socket, a datagram one or a listening stream one. Made
 * non-blocking and close-on-exec, with the options sock_bind sets (what
 * matters only before the bind, SO_REUSEPORT, is the maker's to set).
 * Returns its type (SOCK_STREAM or SOCK_DGRAM), or -1 with err the reason
 * alone (the caller names the socket).
 */
int sock_adopt(int fd, char *err, size_t errlen);

/* The socket's local address with its real port, for messages. */
void sock_name(int fd, char *addr);

#endif
