/* SPDX-License-Identifier: ISC
 * main.c — the ociregd command: serve (default), check-config, gc, fsck,
 * version.
 */
#include <getopt.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "fsck.h"
#include "gc.h"
#include "log.h"
#include "meta.h"
#include "proxy.h"
#include "server.h"
#include "store.h"
#include "upload.h"

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
	    "       ociregd passwd [-c FILE] USER\n"
	    "       ociregd gc [-c FILE] [--dry-run]\n"
	    "       ociregd fsck [-c FILE] [--repair]\n"
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
	if (gc_config_check(cfg, err, sizeof(err)) != 0 ||
	    proxy_config_check(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		config_free(cfg);
		return -1;
	}
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n > 0 && n < 256 ? (int)n : 1;
	}
	return 0;
}

/* Everything that can be checked without touching storage or the network:
 * the file itself, the users file and access sections, the TLS files. */
static int
check_config(const struct config *cfg)
{
	char err[1024];

	if (cfg->auth_users[0] != '\0') {
		struct config *tmp = malloc(sizeof(*tmp));
		char keydir[] = "/tmp/ociregd-check.XXXXXX";
		struct auth *auth;

		if (tmp == NULL || mkdtemp(keydir) == NULL) {
			free(tmp);
			fprintf(stderr, "check-config: cannot make a temporary directory\n");
			return EXIT_CONFIG;
		}
		/* A configured key file that exists is checked; a missing one
		 * would be created, so a throwaway key stands in for it. */
		*tmp = *cfg;
		if (cfg->auth_token_key[0] == '\0' || access(cfg->auth_token_key, F_OK) != 0)
			snprintf(tmp->auth_token_key, sizeof(tmp->auth_token_key), "%s/key", keydir);
		auth = auth_new(tmp, err, sizeof(err));
		snprintf(tmp->auth_token_key, sizeof(tmp->auth_token_key), "%s/key", keydir);
		unlink(tmp->auth_token_key);
		rmdir(keydir);
		free(tmp);
		if (auth == NULL) {
			fprintf(stderr, "%s\n", err);
			return EXIT_CONFIG;
		}
		auth_free(auth);
	}
	if (server_tls_check(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_CONFIG;
	}
	/* A warning, not an error: the limit may be raised where the daemon
	 * runs (systemd's LimitNOFILE=), not where the file is checked. */
	if (server_fd_check(cfg, err, sizeof(err)) != 0)
		fprintf(stderr, "warning: %s\n", err);
	printf("%s: ok\n", cfg->path);
	return EXIT_OK;
}

/* SIGHUP: build a new config and auth from the same file; on any error
 * log it and keep the running ones. */
static int
reload(void *arg, struct config **out_cfg, struct auth **out_auth)
{
	const char *path = arg;
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct auth *auth;
	char err[1024];

	if (cfg == NULL)
		return -1;
	if (load_config(path, cfg) != 0) {
		log_error("reload refused: the configuration has errors (see above); keeping the old one");
		free(cfg);
		return -1;
	}
	if ((auth = auth_new(cfg, err, sizeof(err))) == NULL) {
		log_error("reload refused: %s", err);
		config_free(cfg);
		free(cfg);
		return -1;
	}
	*out_cfg = cfg;
	*out_auth = auth;
	return 0;
}

static int
serve(const struct config *cfg)
{
	struct store *store;
	struct meta *meta;
	struct server *srv;
	struct auth *auth;
	struct gc_runner *gc;
	struct upload_sweeper *sweeper;
	char err[1024];
	int gc_failed;

	log_set_level((enum log_level)cfg->log_level);
	if (server_fd_check(cfg, err, sizeof(err)) != 0)
		log_warn("%s", err);
	if ((store = store_open(cfg->root, cfg->sync)) == NULL)
		return EXIT_STORAGE;
	store_set_direct(store, cfg->sync && cfg->direct_io);
	/* After the store: the token key defaults to a file in its root. */
	if ((auth = auth_new(cfg, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		store_close(store);
		return EXIT_CONFIG;
	}
	/* Open once here so a broken database fails start-up with a clear
	 * message before any listener exists. */
	if ((meta = meta_open(cfg->root)) == NULL) {
		auth_free(auth);
		store_close(store);
		return EXIT_STORAGE;
	}
	meta_close(meta);
	if ((srv = server_new(cfg, store, auth)) == NULL) {
		auth_free(auth);
		store_close(store);
		return EXIT_BIND;
	}
	server_set_reload(srv, reload, (void *)cfg->path);
	/* XXX the collector keeps the settings it started with: a reload
	 * does not change [gc] or [retention] until a restart. */
	if ((gc = gc_runner_start(cfg, store, &gc_failed)) == NULL && gc_failed) {
		server_free(srv);
		auth_free(auth);
		store_close(store);
		return EXIT_STORAGE;
	}
	/* Idle upload sessions expire even with the collector off. */
	if ((sweeper = upload_sweeper_start(cfg, store, &gc_failed)) == NULL) {
		gc_runner_stop(gc);
		server_free(srv);
		auth_free(auth);
		store_close(store);
		return EXIT_STORAGE;
	}
	log_info("ociregd %s: storage %s%s%s", OCIREGD_VERSION, cfg->root,
	    auth_enabled(auth) ? ", authentication on" : "", cfg->tls_certificate[0] ? ", TLS" : "");
	server_run(srv);
	upload_sweeper_stop(sweeper);
	gc_runner_stop(gc);
	server_free(srv);
	auth_free(auth);
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
		{"dry-run", no_argument, NULL, 'n'},
		{"repair", no_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *path = CONFIG_DEFAULT_PATH, *cmd = "serve";
	struct config *cfg;
	int ch, rc, dry_run = 0, repair = 0;

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
		case 'n':
			dry_run = 1;
			break;
		case 'r':
			repair = 1;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if ((strcmp(cmd, "passwd") == 0 ? optind != argc - 1 : optind != argc) ||
	    (dry_run && strcmp(cmd, "gc") != 0) || (repair && strcmp(cmd, "fsck") != 0)) {
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
	if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "check-config") != 0 &&
	    strcmp(cmd, "passwd") != 0 && strcmp(cmd, "gc") != 0 && strcmp(cmd, "fsck") != 0) {
		fprintf(stderr, "ociregd: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	/* Few threads, short-lived allocations: two malloc arenas are plenty
	 * and keep the resident set small. */
	mallopt(M_ARENA_MAX, 2);
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
	if (strcmp(cmd, "passwd") == 0) {
		rc = auth_passwd_command(cfg, argv[optind]);
	} else if (strcmp(cmd, "check-config") == 0) {
		rc = check_config(cfg);
	} else if (strcmp(cmd, "gc") == 0 || strcmp(cmd, "fsck") == 0) {
		/* fsck: 0 clean, 1 problems found; both: -1 storage errors. */
		log_set_level((enum log_level)cfg->log_level);
		rc = cmd[0] == 'g' ? gc_command(cfg, dry_run) : fsck_command(cfg, repair);
		rc = rc < 0 ? EXIT_STORAGE : rc;
	} else {
		rc = serve(cfg);
	}
	config_free(cfg);
	free(cfg);
	return rc;
}
