/* daemon.h — the serving process: the registry put together on the HTTP
 * layer (workers, their contexts, reloads, the background collectors). */
#ifndef OCIREGD_DAEMON_H
#define OCIREGD_DAEMON_H

struct config;

/* Process exit statuses (sysexits.h's values). */
enum daemon_exit {
	EXIT_OK = 0,
	EXIT_USAGE = 64,
	EXIT_CONFIG = 78,
	EXIT_STORAGE = 74,
	EXIT_BIND = 69,
};

/* Load and check path into cfg the way the daemon does at start and on
 * SIGHUP ([gc] and [proxy] sections too; workers = 0 becomes the CPU
 * count).  0, or -1 after printing FILE:LINE: reason on stderr. */
int daemon_load_config(const char *path, struct config *cfg);

struct auth;
/* The configuration's warnings: users named in [group]/[access] but not in
 * the users file, no authentication on a listener other hosts can reach
 * (listen_addr: the address as bound, or cfg->listen before binding), and
 * [proxy] sections that skip TLS verification or lend their upstream
 * credentials to anyone.  fn(arg, "FILE:LINE: section.key: ...") for each;
 * returns how many.  check-config prints them, the daemon logs them at
 * start and reload. */
int daemon_config_warnings(const struct config *cfg, const struct auth *auth, const char *listen_addr,
    void (*fn)(void *, const char *), void *arg);

struct daemon;
struct server;
struct store;

/* The registry on the HTTP layer: cfg's workers with their contexts, the
 * router as dispatcher, reloads of cfg->path on SIGHUP.  store and auth
 * (the first generation's users and rules) are the caller's, freed after
 * daemon_free.  NULL after logging why (a listener that will not bind...). */
struct daemon *daemon_new(const struct config *cfg, struct store *store, struct auth *auth);
struct server *daemon_server(struct daemon *d);
void daemon_free(struct daemon *d);

/* Serve until SIGTERM/SIGINT; SIGHUP reloads cfg->path.  Returns an exit
 * status. */
int daemon_serve(const struct config *cfg);

#endif
