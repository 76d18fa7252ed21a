/* SPDX-License-Identifier: ISC
 * sdhelper.c — plays systemd for the service tests (t_service.sh): the
 * sd_notify(3) datagram socket and socket activation (sd_listen_fds(3)).
 *
 *   sdhelper [options] NOTIFY_SOCKET LOG PORTFILE -- COMMAND [ARG...]
 *
 * Creates an AF_UNIX SOCK_DGRAM socket at NOTIFY_SOCKET (a path, or with -a
 * the abstract name "@NOTIFY_SOCKET"), a TCP listening socket on
 * 127.0.0.1:0 moved to fd 3, writes its port (one line) to PORTFILE, sets
 * NOTIFY_SOCKET, LISTEN_FDS=1 and LISTEN_PID=<own pid>, then forks:
 *   - the child reads datagrams and appends each to LOG as one line
 *     "MS MESSAGE" (MS: milliseconds since sdhelper started, monotonic;
 *     newlines inside a message become spaces), flushed per message, until
 *     it is killed or the parent process (the daemon) is gone — then it
 *     drains what is still queued and exits;
 *   - the parent execs COMMAND, so the daemon has the pid LISTEN_PID names.
 * The child writes its pid to PORTFILE.reader.
 *
 * Options:
 *   -w USEC   set WATCHDOG_USEC=USEC
 *   -W PID    set WATCHDOG_PID=PID ("self" = the daemon's pid)
 *   -L PID    set LISTEN_PID=PID instead of our own ("self" = ours)
 *   -n        no socket activation: no fd 3, no LISTEN_*; PORTFILE gets a
 *             port that was free a moment ago (for [server] listen)
 *   -N        make the passed socket O_NONBLOCK (systemd's NonBlocking=yes;
 *             by default it is blocking, as systemd passes it)
 *   -a        abstract NOTIFY_SOCKET
 *   -p PORT   probe: on every READY=1, the reader connects to 127.0.0.1:PORT
 *             at once and logs "MS probe READY=1 connect=ok" (or
 *             "... connect=failed:ERRNO-TEXT") right after the message line.
 * Only libc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct timespec t0;

static long long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)(ts.tv_sec - t0.tv_sec) * 1000 + (ts.tv_nsec - t0.tv_nsec) / 1000000;
}

static void
die(const char *what)
{
	fprintf(stderr, "sdhelper: %s: %s\n", what, strerror(errno));
	exit(70);
}

static void
usage(void)
{
	fprintf(stderr, "usage: sdhelper [-w USEC] [-W PID|self] [-L PID|self] [-n] [-N] [-a] [-p PORT] "
	    "NOTIFY_SOCKET LOG PORTFILE -- COMMAND [ARG...]\n");
	exit(64);
}

static int
probe(int port, char *why, size_t cap)
{
	struct sockaddr_in sin;
	int fd, rc;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(why, cap, "socket:%s", strerror(errno));
		return -1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (rc != 0)
		snprintf(why, cap, "%s", strerror(errno));
	close(fd);
	return rc;
}

/* Append one datagram as one line. */
static void
log_msg(int logfd, const char *buf, ssize_t n, int probe_port)
{
	char line[8192], why[256];
	int len;

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
		n--;
	len = snprintf(line, sizeof(line), "%lld ", ms_now());
	for (ssize_t i = 0; i < n && len < (int)sizeof(line) - 2; i++)
		line[len++] = (buf[i] == '\n' || buf[i] == '\0') ? ' ' : buf[i];
	line[len++] = '\n';
	if (write(logfd, line, (size_t)len) < 0)
		return;
	if (probe_port > 0 && n == 7 && memcmp(buf, "READY=1", 7) == 0) {
		if (probe(probe_port, why, sizeof(why)) == 0)
			len = snprintf(line, sizeof(line), "%lld probe READY=1 connect=ok\n", ms_now());
		else
			len = snprintf(line, sizeof(line), "%lld probe READY=1 connect=failed:%s\n",
			    ms_now(), why);
		if (write(logfd, line, (size_t)len) < 0)
			return;
	}
}

static void
reader(int sfd, const char *logpath, pid_t parent, int probe_port)
{
	char buf[4096];
	int logfd;

	if ((logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		die(logpath);
	for (;;) {
		struct pollfd p = {sfd, POLLIN, 0};
		int gone = getppid() != parent;
		ssize_t n;

		if (gone) {
			/* The daemon exited: take what it queued, then go. */
			while ((n = recv(sfd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
				log_msg(logfd, buf, n, 0);
			_exit(0);
		}
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			die("poll");
		if (p.revents & POLLIN) {
			n = recv(sfd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n >= 0)
				log_msg(logfd, buf, n, probe_port);
		}
	}
}

int
main(int argc, char **argv)
{
	const char *wd_usec = NULL, *wd_pid = NULL, *listen_pid = NULL;
	int no_activation = 0, nonblock = 0, abstract = 0, probe_port = 0;
	const char *npath, *logpath, *portfile;
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	socklen_t slen, sunlen;
	char val[64], name[sizeof(sun.sun_path) + 2], readerfile[4096];
	int ch, sfd, lfd, port;
	pid_t self, child;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((ch = getopt(argc, argv, "+w:W:L:nNap:")) != -1) {
		switch (ch) {
		case 'w': wd_usec = optarg; break;
		case 'W': wd_pid = optarg; break;
		case 'L': listen_pid = optarg; break;
		case 'n': no_activation = 1; break;
		case 'N': nonblock = 1; break;
		case 'a': abstract = 1; break;
		case 'p': probe_port = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind < 5 || strcmp(argv[optind + 3], "--") != 0)
		usage();
	npath = argv[optind];
	logpath = argv[optind + 1];
	portfile = argv[optind + 2];
	argv += optind + 4;
	self = getpid();

	/* The notification socket. */
	if ((sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket(AF_UNIX)");
	/* Keep fd 3 free for the listening socket. */
	if (sfd < 10) {
		int hi = fcntl(sfd, F_DUPFD_CLOEXEC, 10);

		if (hi < 0)
			die("F_DUPFD_CLOEXEC");
		close(sfd);
		sfd = hi;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(npath) + 1 >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		die(npath);
	}
	if (abstract) {
		/* sun_path[0] = '\0', then the name; the length counts it. */
		memcpy(sun.sun_path + 1, npath, strlen(npath));
		sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(npath));
		snprintf(name, sizeof(name), "@%s", npath);
	} else {
		unlink(npath);
		memcpy(sun.sun_path, npath, strlen(npath));
		sunlen = (socklen_t)sizeof(sun);
		snprintf(name, sizeof(name), "%s", npath);
	}
	if (bind(sfd, (struct sockaddr *)&sun, sunlen) != 0)
		die("bind(NOTIFY_SOCKET)");

	/* The listening socket (or just a free port with -n). */
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket(AF_INET)");
	{
		int one = 1;

		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("bind(127.0.0.1:0)");
	if (!no_activation && listen(lfd, 128) != 0)
		die("listen");
	slen = sizeof(sin);
	if (getsockname(lfd, (struct sockaddr *)&sin, &slen) != 0)
		die("getsockname");
	port = ntohs(sin.sin_port);
	if (no_activation) {
		close(lfd);
	} else {
		if (lfd != 3) {
			if (dup2(lfd, 3) != 3)
				die("dup2");
			close(lfd);
		}
		/* dup2 clears FD_CLOEXEC: fd 3 survives the exec. */
		if (nonblock && fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK) != 0)
			die("O_NONBLOCK");
	}
	if ((f = fopen(portfile, "w")) == NULL)
		die(portfile);
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		die(portfile);

	if (setenv("NOTIFY_SOCKET", name, 1) != 0)
		die("setenv");
	if (no_activation) {
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
	} else {
		snprintf(val, sizeof(val), "%ld",
		    listen_pid == NULL || strcmp(listen_pid, "self") == 0 ? (long)self :
		    strtol(listen_pid, NULL, 10));
		setenv("LISTEN_PID", val, 1);
		setenv("LISTEN_FDS", "1", 1);
	}
	unsetenv("LISTEN_FDNAMES");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (wd_usec != NULL)
		setenv("WATCHDOG_USEC", wd_usec, 1);
	if (wd_pid != NULL) {
		snprintf(val, sizeof(val), "%ld",
		    strcmp(wd_pid, "self") == 0 ? (long)self : strtol(wd_pid, NULL, 10));
		setenv("WATCHDOG_PID", val, 1);
	}

	if ((child = fork()) < 0)
		die("fork");
	if (child == 0) {
		/* The reader must not keep the daemon's listening socket open:
		 * once the daemon exits, the port has to be closed. */
		if (!no_activation)
			close(3);
		/* No PR_SET_PDEATHSIG: a message queued just before the
		 * daemon exits would be lost; reader() polls getppid() and
		 * drains the queue first. */
		signal(SIGTERM, SIG_DFL);
		snprintf(readerfile, sizeof(readerfile), "%s.reader", portfile);
		if ((f = fopen(readerfile, "w")) != NULL) {
			fprintf(f, "%ld\n", (long)getpid());
			fclose(f);
		}
		reader(sfd, logpath, self, probe_port);
		_exit(0);
	}
	close(sfd);
	execvp(argv[0], argv);
	die(argv[0]);
	return 70;
}
