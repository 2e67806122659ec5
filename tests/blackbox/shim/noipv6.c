/*
 * An LD_PRELOAD shim that makes this host look like one without IPv6:
 * socket(AF_INET6, ...) fails with EAFNOSUPPORT, as on a kernel built
 * without it (or booted with ipv6.disable=1). Every other socket is made by
 * the system call itself, so nothing else changes. Built by the black-box
 * tests at test time (test_input_bind.py).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* socket(2), without IPv6. */
int
socket(int domain, int type, int protocol)
{
	if (domain == AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	return (int)syscall(SYS_socket, domain, type, protocol);
}
