/* SPDX-License-Identifier: ISC
 * fuzz_http.c — whole HTTP requests fed to the real server in process: one
 * worker over a temporary storage root, each input played as one client
 * connection (server_fuzz_connection), twice: over a socket (the plain
 * path: direct reads, sendfile) and over a bufferevent pair (the path TLS
 * connections take).  Properties, besides no crash or leak (ASan/LSan):
 * what the server writes back is a sequence of whole HTTP/1.1 responses,
 * each a status line "HTTP/1.1 NNN Reason" with NNN 100 or 200..599,
 * header lines "Name: value" without stray CR or LF, a Content-Length
 * (except 100) that frames the body; nothing follows a response that says
 * "Connection: close", and after one the server has closed the
 * connection.
 */
#include <event2/event.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "daemon.h"
#include "server.h"
#include "store.h"

static struct server *fuzz_srv;
static struct daemon *fuzz_daemon;

static void
fuzz_setup(void)
{
	static struct config cfg;
	static char root[] = "/tmp/ociregd-fuzz-http.XXXXXX";
	char text[512], err[512];
	struct store *store;
	struct auth *auth;

	if (sodium_init() < 0 || mkdtemp(root) == NULL)
		abort();
	snprintf(text, sizeof(text),
	    "[server]\nlisten = 127.0.0.1:0\nworkers = 1\naccess_log = off\nlog_level = error\n"
	    "header_timeout = 5s\n[storage]\nroot = %s\nsync = false\n[limits]\nmax_manifest_size = 64k\n",
	    root);
	if (config_load_string("fuzz.ini", text, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	log_set_level(LOG_ERROR);
	if ((store = store_open(root, 0)) == NULL || (auth = auth_new(&cfg, err, sizeof(err))) == NULL ||
	    (fuzz_daemon = daemon_new(&cfg, store, auth)) == NULL)
		abort();
	fuzz_srv = daemon_server(fuzz_daemon);
}

static int
fuzz_is_status_at(const char *p, size_t left)
{
	return left >= 9 && memcmp(p, "HTTP/1.1 ", 9) == 0;
}

/* Check the server's output (see the top of the file). */
static void
fuzz_check_output(const char *out, size_t len, int closed)
{
	size_t off = 0;
	int saw_close = 0;

	while (off < len) {
		const char *head = out + off, *end, *line;
		unsigned long long cl = 0;
		int status, has_cl = 0;
		size_t body;

		/* Nothing may follow an answer that announced the close. */
		FUZZ_CHECK(!saw_close);
		FUZZ_CHECK(fuzz_is_status_at(head, len - off));
		FUZZ_CHECK(len - off >= 14 && head[9] >= '1' && head[9] <= '5' &&
		    head[10] >= '0' && head[10] <= '9' && head[11] >= '0' && head[11] <= '9' &&
		    head[12] == ' ');
		status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
		FUZZ_CHECK(status == 100 || (status >= 200 && status <= 599));
		/* The whole head is there: the server writes it at once. */
		end = memmem(head, len - off, "\r\n\r\n", 4);
		FUZZ_CHECK(end != NULL);
		line = (const char *)memchr(head, '\n', (size_t)(end - head) + 2) + 1;
		/* The reason phrase: printable, no CR before CRLF. */
		for (const char *p = head + 13; p < line - 2; p++)
			FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
		FUZZ_CHECK(line[-2] == '\r');
		while (line < end + 2) {
			const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
			const char *colon;

			FUZZ_CHECK(eol != NULL && eol > line && eol[-1] == '\r');
			FUZZ_CHECK(memchr(line, '\r', (size_t)(eol - 1 - line)) == NULL);
			colon = memchr(line, ':', (size_t)(eol - line));
			FUZZ_CHECK(colon != NULL && colon > line && colon[1] == ' ');
			if ((size_t)(colon - line) == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
				char *e;

				FUZZ_CHECK(!has_cl);
				cl = strtoull(colon + 2, &e, 10);
				FUZZ_CHECK(e == eol - 1 && e > colon + 2);
				has_cl = 1;
			}
			if ((size_t)(eol - 1 - line) == 17 && strncasecmp(line, "Connection: close", 17) == 0)
				saw_close = 1;
			line = eol + 1;
		}
		off = (size_t)(end + 4 - out);
		if (status == 100) {
			FUZZ_CHECK(!has_cl && !saw_close);
			continue;
		}
		FUZZ_CHECK(has_cl);
		/* The body is Content-Length bytes -- or none, for an answer
		 * to HEAD: then the next answer (or the end) comes at once. */
		body = cl <= len - off ? (size_t)cl : SIZE_MAX;
		if (body != SIZE_MAX && (off + body == len || fuzz_is_status_at(out + off + body,
		    len - off - body)))
			off += body;
		else
			FUZZ_CHECK(off == len || fuzz_is_status_at(out + off, len - off));
	}
	if (saw_close)
		FUZZ_CHECK(closed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_srv == NULL)
		fuzz_setup();
	for (int plain = 1; plain >= 0; plain--) {
		char *out = NULL;
		size_t len = 0;
		int closed = 0;

		FUZZ_CHECK(server_fuzz_connection(fuzz_srv, data, size, plain, &out, &len, &closed) == 0);
		/* Bounded answers: errors are small and bodies come from what
		 * was pushed in this same connection. */
		FUZZ_CHECK(len <= 2 * size + 64 * 1024);
		if (getenv("FUZZ_HTTP_DEBUG") != NULL)
			fprintf(stderr, "plain=%d closed=%d out=%zu:\n%.*s\n", plain, closed, len, (int)len,
			    out ? out : "");
		fuzz_check_output(out, len, closed);
		free(out);
	}
	return 0;
}
