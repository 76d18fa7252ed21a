/* SPDX-License-Identifier: ISC
 * main.c — the ociregd command: serve (default), check-config, version.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "meta.h"
#include "server.h"
#include "store.h"

#ifndef OCIREGD_VERSION
#define OCIREGD_VERSION "0.1.0"
#endif

/* Exit codes (documented in ociregd(8)). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 64,
	EXIT_CONFIG = 78,
	EXIT_STORAGE = 74,
	EXIT_BIND = 69,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ociregd [-c FILE]\n"
	    "       ociregd check-config [-c FILE]\n"
	    "       ociregd print-config\n"
	    "       ociregd version\n"
	    "       ociregd --help\n"
	    "\n"
	    "Serves the OCI Distribution API v1.1.  Default config: %s\n",
	    CONFIG_DEFAULT_PATH);
}

static int
load_config(const char *path, struct config *cfg)
{
	char err[1024];

	if (config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n > 0 && n < 256 ? (int)n : 1;
	}
	return 0;
}

static int
serve(const struct config *cfg)
{
	struct store *store;
	struct meta *meta;
	struct server *srv;

	log_set_level((enum log_level)cfg->log_level);
	if ((store = store_open(cfg->root, cfg->sync)) == NULL)
		return EXIT_STORAGE;
	/* Open once here so a broken database fails start-up with a clear
	 * message before any listener exists. */
	if ((meta = meta_open(cfg->root)) == NULL) {
		store_close(store);
		return EXIT_STORAGE;
	}
	meta_close(meta);
	if ((srv = server_new(cfg, store)) == NULL) {
		store_close(store);
		return EXIT_BIND;
	}
	log_info("ociregd %s: storage %s", OCIREGD_VERSION, cfg->root);
	server_run(srv);
	server_free(srv);
	store_close(store);
	log_info("stopped");
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = CONFIG_DEFAULT_PATH, *cmd = "serve";
	struct config *cfg;
	int ch, rc;

	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argc--;
		argv++;
	}
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "version") == 0) {
		printf("ociregd %s\n", OCIREGD_VERSION);
		return EXIT_OK;
	}
	if (strcmp(cmd, "print-config") == 0) {
		config_write_example(stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "check-config") != 0) {
		fprintf(stderr, "ociregd: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "ociregd: libsodium failed to initialise\n");
		return EXIT_STORAGE;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return EXIT_STORAGE;
	if (load_config(path, cfg) != 0) {
		free(cfg);
		return EXIT_CONFIG;
	}
	if (strcmp(cmd, "check-config") == 0) {
		printf("%s: ok\n", path);
		free(cfg);
		return EXIT_OK;
	}
	rc = serve(cfg);
	free(cfg);
	return rc;
}
