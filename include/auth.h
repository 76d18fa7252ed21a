/* auth.h — users, groups, per-repository permissions and Docker's token
 * protocol, built in (no external token server).
 *
 * A struct auth is built from a config (users file, [group], [access]
 * sections, token key) and is immutable afterwards except for two small
 * mutex-guarded tables (failed-login counters, verified-credential cache), so
 * every worker thread shares it. */
#ifndef OCIREGD_AUTH_H
#define OCIREGD_AUTH_H

#include <stddef.h>

#include "token.h"

struct auth;
struct config;
struct request;

/* Build from cfg; NULL with "FILE:LINE: reason" in err.  Returns a valid
 * object with authentication off when cfg has no [auth] users. */
struct auth *auth_new(const struct config *cfg, char *err, size_t errcap);
void auth_free(struct auth *a);
int auth_enabled(const struct auth *a);
/* Call fn(arg, message) for each user that a [group] or [access] list
 * names but the users file does not ("FILE:LINE: access \"GLOB\".push:
 * user 'x' is not in the users file ..."): not an error, since a user may
 * be added later, but usually a typo.  Returns how many. */
int auth_warnings(const struct auth *a, const struct config *cfg, void (*fn)(void *, const char *),
    void *arg);

/* Actions (TOKEN_* bits) user may perform on repo by the [access] rules;
 * user NULL = anonymous.  push implies pull. */
unsigned auth_user_actions(const struct auth *a, const char *user, const char *repo);

/* Gate a request needing `need` on repo, the repository the request is
 * served from or written to (NULL: just authenticated, as for /v2/ and the
 * catalog).  scope is the name the client wrote in the URL, which is what
 * it asks /token for: a bearer token must grant `need` on scope, and the
 * token's user (like a Basic user) must be allowed `need` on repo by the
 * [access] rules now.  Returns 0 to go on (the identity is recorded on
 * req), or -1 after answering 401, 403 or 429. */
int auth_request(struct auth *a, struct request *req, const char *scope, const char *repo,
    unsigned need);
/* What the identity recorded on req may do on repo (for catalog filtering
 * and mount sources).  Without auth: everything. */
unsigned auth_request_actions(const struct auth *a, const struct request *req, const char *repo);

/* GET /token: Docker's token endpoint. */
void auth_token_handler(struct request *req);

/* Check a password against a stored hash (Argon2id or bcrypt): 1 if it
 * matches, 0 if not, -1 if the hash format is unknown. */
int auth_hash_verify(const char *hash, const char *password);
/* Argon2id hash of password (crypto_pwhash_str); 0 or -1. */
int auth_hash_new(const char *password, char *out, size_t cap);

/* `ociregd passwd`: add or change user in the users file named by cfg,
 * reading the password from the terminal (no echo) or standard input.
 * Returns a process exit status. */
int auth_passwd_command(const struct config *cfg, const char *user);

#endif
