/* SPDX-License-Identifier: ISC
 * notify.c — sd_notify(3) and sd_listen_fds(3) without libsystemd: the
 * protocols are a datagram of "KEY=VALUE" lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET ('@' = abstract namespace), and inherited listening
 * sockets from fd 3 on, announced by $LISTEN_PID and $LISTEN_FDS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

int
notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	size_t plen;
	int fd, rc;

	if (path == NULL || path[0] == '\0')
		return 1;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0 ? -1 : 0;
	close(fd);
	return rc;
}

static int
notify_env_num(const char *name, long long *out)
{
	const char *v = getenv(name);
	char *end;

	if (v == NULL || v[0] == '\0')
		return -1;
	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

long long
notify_watchdog_usec(void)
{
	long long usec, pid;

	if (notify_env_num("WATCHDOG_USEC", &usec) != 0 || usec <= 0)
		return 0;
	if (notify_env_num("WATCHDOG_PID", &pid) == 0 && pid != (long long)getpid())
		return 0;
	return usec;
}

int
notify_listen_fd(void)
{
	long long pid, n;
	int fd = 3;

	if (notify_env_num("LISTEN_PID", &pid) != 0 || pid != (long long)getpid() ||
	    notify_env_num("LISTEN_FDS", &n) != 0 || n < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	/* systemd passes a blocking socket unless NonBlocking=yes; libevent
	 * accepts until EAGAIN, which on a blocking socket would hang the
	 * worker inside accept(2). */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
		return -1;
	return fd;
}
