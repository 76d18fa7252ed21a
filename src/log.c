/* SPDX-License-Identifier: ISC
 * log.c — leveled logging and the access log, both on stderr.  Each line is
 * formatted into one buffer and written with a single write(2) so lines from
 * several worker threads never interleave.  A line is one line whatever it
 * quotes: control characters from clients and upstreams (a user name with a
 * newline, an upstream's error text) are written as \xHH, so nobody can
 * forge a second line.
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

static const char log_hex[] = "0123456789abcdef";

/* Append s to buf (len bytes used, cap in all), each byte for which
 * `escaped` holds written as \xHH; stops short rather than cut an escape. */
static size_t
log_append(char *buf, size_t len, size_t cap, const char *s, int (*escaped)(unsigned char))
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (escaped(c)) {
			if (len + 4 >= cap)
				break;
			buf[len++] = '\\';
			buf[len++] = 'x';
			buf[len++] = log_hex[c >> 4];
			buf[len++] = log_hex[c & 15];
		} else {
			if (len + 1 >= cap)
				break;
			buf[len++] = (char)c;
		}
	}
	if (len < cap)
		buf[len] = '\0';
	return len;
}

/* What would end or garble a line: C0 controls and DEL. */
static int
log_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* A field's text: also space (it separates fields), quotes, the escape
 * character itself and every non-ASCII byte (C1 controls, terminal
 * escapes). */
static int
log_field(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

const char *
log_escape(char *dst, size_t cap, const char *s)
{
	if (cap == 0)
		return "";
	dst[0] = '\0';
	log_append(dst, 0, cap, s, log_field);
	return dst;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[2048], msg[2048];
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
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0)
		len = log_append(buf, len, sizeof(buf), msg, log_control);
	log_write(buf, len, sizeof(buf));
}

/* Append s JSON-escaped; client-controlled text stays one valid line. */
static size_t
log_json_str(char *buf, size_t len, size_t cap, const char *s)
{
	if (len + 2 >= cap)
		return len;
	buf[len++] = '"';
	for (; s != NULL && *s != '\0' && len + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u00%c%c", log_hex[c >> 4], log_hex[c & 15]);
		} else {
			buf[len++] = (char)c;
		}
	}
	buf[len++] = '"';
	return len;
}

void
log_access(enum log_access_format fmt, const struct log_access_rec *r)
{
	char buf[4096];
	size_t len = 0;
	int n;

	if (fmt == LOG_ACCESS_OFF)
		return;
	if (fmt == LOG_ACCESS_TEXT) {
		char line[3072];

		/* The user is the one field a client chooses freely. */
		len = log_stamp(buf, sizeof(buf));
		n = snprintf(line, sizeof(line), "access: %s %s %s %d in=%llu out=%llu %lldus w=%d",
		    r->peer, r->method, r->path, r->status, r->bytes_in, r->bytes_out, r->usec, r->worker);
		if (n > 0)
			len = log_append(buf, len, sizeof(buf), line, log_control);
		if (r->user != NULL && r->user[0] != '\0' && len + 6 < sizeof(buf)) {
			memcpy(buf + len, " user=", 6);
			len = log_append(buf, len + 6, sizeof(buf), r->user, log_field);
		}
		log_write(buf, len, sizeof(buf));
		return;
	}
	{
		struct timespec ts;
		struct tm tm;
		char t[40];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(buf, sizeof(buf), "{\"time\":\"%s.%03ldZ\",\"remote\":", t, ts.tv_nsec / 1000000);
		len = n > 0 ? (size_t)n : 0;
	}
	len = log_json_str(buf, len, sizeof(buf), r->peer);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",\"user\":");
	len = log_json_str(buf, len, sizeof(buf), r->user ? r->user : "");
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",\"method\":");
	len = log_json_str(buf, len, sizeof(buf), r->method);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",\"path\":");
	len = log_json_str(buf, len, sizeof(buf), r->path);
	n = snprintf(buf + len, sizeof(buf) - len, ",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,"
	    "\"duration_us\":%lld,\"worker\":%d,\"digest\":", r->status, r->bytes_in, r->bytes_out,
	    r->usec, r->worker);
	if (n > 0 && (size_t)n < sizeof(buf) - len)
		len += (size_t)n;
	if (r->digest != NULL) {
		len = log_json_str(buf, len, sizeof(buf), r->digest);
	} else if (len + 4 < sizeof(buf)) {
		memcpy(buf + len, "null", 4);
		len += 4;
	}
	if (len + 1 < sizeof(buf))
		buf[len++] = '}';
	/* JSON lines carry their own timestamp: no prefix. */
	log_write(buf, len, sizeof(buf));
}
