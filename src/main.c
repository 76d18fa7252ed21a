/* SPDX-License-Identifier: ISC
 * main.c — the ociregd command: serve (default), check-config, passwd, gc,
 * fsck, backup, migrate-metadata, print-config, version.
 */
#include <getopt.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "backup.h"
#include "config.h"
#include "daemon.h"
#include "fsck.h"
#include "gc.h"
#include "log.h"
#include "meta.h"
#include "migrate.h"
#include "proxy.h"
#include "server.h"
#include "store.h"
#include "upload.h"
#include "version.h"


/* Exit codes (documented in ociregd(8)). */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ociregd [-c FILE]\n"
	    "       ociregd check-config [-c FILE] [--strict]\n"
	    "       ociregd passwd [-c FILE] USER\n"
	    "       ociregd gc [-c FILE] [--dry-run]\n"
	    "       ociregd fsck [-c FILE] [--repair]\n"
	    "       ociregd backup [-c FILE] DEST\n"
	    "       ociregd migrate-metadata [-c FILE] --to URL [--force]\n"
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
	return daemon_load_config(path, cfg);
}

static void
check_config_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "warning: %s\n", msg);
}

/* Everything that can be checked without touching storage or the network:
 * the file itself, the users file and access sections, the TLS files; then
 * the warnings the daemon would log at start.  With strict, a warning
 * fails the check too. */
static int
check_config(const struct config *cfg, int strict)
{
	struct auth *auth = NULL;
	char err[2 * PATH_MAX + 512];
	int nwarn;

	if (cfg->auth_users[0] != '\0') {
		struct config *tmp = malloc(sizeof(*tmp));
		char keydir[] = "/tmp/ociregd-check.XXXXXX";

		if (tmp == NULL || mkdtemp(keydir) == NULL) {
			free(tmp);
			fprintf(stderr, "check-config: cannot make a temporary directory in /tmp\n");
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
	}
	if (server_tls_check(cfg, err, sizeof(err)) != 0) {
		auth_free(auth);
		fprintf(stderr, "%s\n", err);
		return EXIT_CONFIG;
	}
	nwarn = daemon_config_warnings(cfg, auth, cfg->listen, check_config_warn, NULL);
	auth_free(auth);
	/* A warning, not an error even with --strict: the limit may be
	 * raised where the daemon runs (systemd's LimitNOFILE=), not where
	 * the file is checked. */
	if (server_fd_check(cfg, err, sizeof(err)) != 0)
		fprintf(stderr, "warning: %s\n", err);
	if (strict && nwarn > 0) {
		fprintf(stderr, "%s: %d warning%s (--strict)\n", cfg->path, nwarn, nwarn == 1 ? "" : "s");
		return EXIT_CONFIG;
	}
	printf("%s: ok\n", cfg->path);
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
		{"strict", no_argument, NULL, 's'},
		{"to", required_argument, NULL, 't'},
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	const char *path = CONFIG_DEFAULT_PATH, *cmd = "serve", *to = NULL;
	struct config *cfg;
	int ch, rc, dry_run = 0, repair = 0, strict = 0, force = 0;

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
		case 's':
			strict = 1;
			break;
		case 't':
			to = optarg;
			break;
		case 'f':
			force = 1;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if ((strcmp(cmd, "passwd") == 0 || strcmp(cmd, "backup") == 0 ? optind != argc - 1 :
	    optind != argc) ||
	    (dry_run && strcmp(cmd, "gc") != 0) || (repair && strcmp(cmd, "fsck") != 0) ||
	    (strict && strcmp(cmd, "check-config") != 0) ||
	    ((to != NULL || force) && strcmp(cmd, "migrate-metadata") != 0) ||
	    (to == NULL && strcmp(cmd, "migrate-metadata") == 0)) {
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
	    strcmp(cmd, "passwd") != 0 && strcmp(cmd, "gc") != 0 && strcmp(cmd, "fsck") != 0 &&
	    strcmp(cmd, "backup") != 0 && strcmp(cmd, "migrate-metadata") != 0) {
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
		rc = check_config(cfg, strict);
	} else if (strcmp(cmd, "gc") == 0 || strcmp(cmd, "fsck") == 0) {
		/* fsck: 0 clean, 1 problems found; both: -1 storage errors. */
		log_set_level((enum log_level)cfg->log_level);
		rc = cmd[0] == 'g' ? gc_command(cfg, dry_run) : fsck_command(cfg, repair);
		rc = rc < 0 ? EXIT_STORAGE : rc;
	} else if (strcmp(cmd, "backup") == 0) {
		log_set_level((enum log_level)cfg->log_level);
		rc = backup_command(cfg, argv[optind]);
	} else if (strcmp(cmd, "migrate-metadata") == 0) {
		log_set_level((enum log_level)cfg->log_level);
		rc = migrate_command(cfg, to, force);
	} else {
		rc = daemon_serve(cfg);
	}
	config_free(cfg);
	free(cfg);
	return rc;
}
