/* SPDX-License-Identifier: ISC
 * fuzz_http.c — whole HTTP requests fed to the real server in process: one
 * worker over a temporary storage root, each input played as one client
 * connection (server_fuzz_connection).  Properties: the server never
 * crashes or leaks (ASan/LSan), and whatever it writes back is HTTP/1.1
 * responses, each a status line the framing allows (100 or 200..599).
 */
#include <event2/event.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "server.h"
#include "store.h"

static struct server *fuzz_srv;

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
	    (fuzz_srv = server_new(&cfg, store, auth)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t out = 0;

	if (fuzz_srv == NULL)
		fuzz_setup();
	FUZZ_CHECK(server_fuzz_connection(fuzz_srv, data, size, &out) == 0);
	/* Bounded answers: errors are small and bodies come from what was
	 * pushed in this same connection. */
	FUZZ_CHECK(out <= 2 * size + 64 * 1024);
	return 0;
}
