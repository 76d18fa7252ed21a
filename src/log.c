/* SPDX-License-Identifier: ISC
 * log.c — leveled logging and the access log, both on stderr.  Each line is
 * formatted into one buffer and written with a single write(2) so lines from
 * several worker threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static volatile enum log_level log_level_cur = LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level
log_get_level(void)
{
	return log_level_cur;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static size_t
log_stamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ ", &tm);
}

static void
log_write(char *buf, size_t len, size_t cap)
{
	if (len >= cap - 1)
		len = cap - 2;
	buf[len++] = '\n';
	/* Best effort: nothing sensible to do if stderr is gone. */
	if (write(STDERR_FILENO, buf, len) < 0)
		return;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[2048];
	size_t len;
	va_list ap;
	int n;

	if (level < log_level_cur)
		return;
	len = log_stamp(buf, sizeof(buf));
	n = snprintf(buf + len, sizeof(buf) - len, "%s: ", log_names[level]);
	if (n > 0)
		len += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n;
	log_write(buf, len, sizeof(buf));
}

void
log_access(const char *peer, const char *method, const char *path, int status,
    unsigned long long bytes_in, unsigned long long bytes_out, long long usec, int worker)
{
	char buf[2048];
	size_t len;
	int n;

	len = log_stamp(buf, sizeof(buf));
	n = snprintf(buf + len, sizeof(buf) - len, "access: %s %s %s %d in=%llu out=%llu %lldus w=%d",
	    peer, method, path, status, bytes_in, bytes_out, usec, worker);
	if (n > 0)
		len += (size_t)n;
	log_write(buf, len, sizeof(buf));
}
