/*
 * systemd's environment, parsed: the sockets a service manager passes
 * (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES: sd_listen_fds(3)), where
 * readiness goes (NOTIFY_SOCKET) and how often the watchdog must hear from
 * us (WATCHDOG_USEC, WATCHDOG_PID: sd_notify(3), sd_watchdog_enabled(3)).
 * Pure: the variables' values in, a struct out; the callers read the
 * environment (listen.c, notify.c).
 */
#ifndef PEERLOG_SDENV_H
#define PEERLOG_SDENV_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The first passed descriptor (SD_LISTEN_FDS_START). */
#define SDENV_FDS_START 3
/* Most sockets taken from LISTEN_FDS. */
#define SDENV_FDS_MAX 1024
/* Longest name (systemd's FileDescriptorName= limit). */
#define SDENV_NAME_MAX 255

/* The sockets passed: SDENV_FDS_START .. SDENV_FDS_START + n - 1. */
struct sdenv_fds {
	size_t n;                        /* 0: none passed to this process */
	char *buf;                       /* LISTEN_FDNAMES copied, or NULL */
	const char *name[SDENV_FDS_MAX]; /* each one's name, "" if none */
};

/* What a passed socket's name makes it. */
enum sdenv_kind {
	SDENV_OTHER,   /* by its type: a TCP listener or a UDP socket */
	SDENV_TLS,     /* "tls": a TLS listener */
	SDENV_METRICS, /* "metrics": the metrics listener */
};

/*
 * Parse the three LISTEN_ variables (NULL when unset) for the process self.
 * Unless pid is self's, in decimal, nothing was passed to us: f->n is 0.
 * Else fds must be a decimal count up to SDENV_FDS_MAX and names, when
 * set, that many colon-separated names of printable ASCII, each at most
 * SDENV_NAME_MAX bytes. Returns 0 (f->n may be 0), or -1 with one line in
 * err and f empty. f is the caller's to sdenv_fds_free.
 */
int sdenv_fds_parse(struct sdenv_fds *f, const char *pid, const char *fds,
    const char *names, long self, char *err, size_t errlen);

/* Free what sdenv_fds_parse kept; f is empty after. */
void sdenv_fds_free(struct sdenv_fds *f);

/* The kind a name stands for. */
enum sdenv_kind sdenv_kind(const char *name);

/*
 * NOTIFY_SOCKET's value as a socket address: an absolute path, or "@NAME"
 * in the abstract namespace. Returns 0 with *sun and *len set, or -1 with
 * *why a static reason.
 */
int sdenv_notify_addr(const char *text, struct sockaddr_un *sun, socklen_t *len,
    const char **why);

/*
 * WATCHDOG_USEC and WATCHDOG_PID (NULL when unset) for the process self.
 * Returns 1 with *usec set when the watchdog is ours (usec set, a decimal
 * number above 0; pid unset or self's), 0 when it is not asked of us (usec
 * unset, or pid another process's), -1 with *why set when usec is
 * malformed.
 */
int sdenv_watchdog(const char *usec, const char *pid, long self,
    unsigned long long *out, const char **why);

#endif
