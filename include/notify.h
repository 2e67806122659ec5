/*
 * Readiness and liveness for a service manager, by systemd's sd_notify
 * protocol (datagrams to NOTIFY_SOCKET), spoken directly: READY=1 with a
 * STATUS= line once the server is up, STATUS= again while the counts
 * change, STOPPING=1 when shutdown begins, and WATCHDOG=1 every half of
 * WATCHDOG_USEC from a timer on the server's own loop, so a loop that is
 * stuck misses it. Without NOTIFY_SOCKET every call does nothing.
 */
#ifndef PEERLOG_NOTIFY_H
#define PEERLOG_NOTIFY_H

struct server;

/*
 * Every socket listens and the outputs are open (after listen_announce):
 * read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (and unset them), send
 * READY=1 and start the timers. A variable that cannot be used is said on
 * standard error, and the server goes on without it.
 */
void notify_ready(struct server *s);

/* Shutdown begins: STOPPING=1 (the watchdog goes on until the exit). */
void notify_stopping(struct server *s);

/* Stop the timers and close the socket. */
void notify_free(struct server *s);

#endif
