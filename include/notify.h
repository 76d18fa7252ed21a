/* notify.h — the systemd service protocols, implemented directly (no
 * libsystemd): sd_notify datagrams to $NOTIFY_SOCKET and socket activation
 * through $LISTEN_FDS / $LISTEN_PID. */
#ifndef OCIREGD_NOTIFY_H
#define OCIREGD_NOTIFY_H

/* Send one state string ("READY=1", "STOPPING=1", ...) to the service
 * manager.  0 if sent, 1 if there is no NOTIFY_SOCKET, -1 on error. */
int notify_send(const char *state);
/* The watchdog interval in microseconds from $WATCHDOG_USEC (when
 * $WATCHDOG_PID is unset or ours), else 0. */
long long notify_watchdog_usec(void);
/* The first socket passed by socket activation (fd 3) if $LISTEN_PID is us
 * and $LISTEN_FDS >= 1, else -1.  The variables are unset afterwards so
 * child processes do not inherit them. */
int notify_listen_fd(void);

#endif
