/* token.h — Docker registry bearer tokens as compact JWTs signed with
 * Ed25519 (libsodium): claims iss, sub, aud, exp, nbf, iat, jti, ocv and
 * "access": [{"type","name","actions"}] as in Docker's token protocol
 * (distribution/distribution docs/spec/auth/jwt.md). */
#ifndef OCIREGD_TOKEN_H
#define OCIREGD_TOKEN_H

#include <stddef.h>

#define TOKEN_PULL 1u
#define TOKEN_PUSH 2u
#define TOKEN_DELETE 4u
#define TOKEN_ALL (TOKEN_PULL | TOKEN_PUSH | TOKEN_DELETE)
#define TOKEN_MAX_LEN 16384
#define TOKEN_MAX_ACCESS 32

struct token_access {
	char type[16];		/* "repository" or "registry" */
	char name[256];
	unsigned actions;	/* TOKEN_* bits */
};

struct token_claims {
	char sub[128];		/* "" for anonymous */
	char aud[128];
	/* "ocv": which credential of sub the token was issued against (a
	 * fingerprint of the user's stored password hash, auth.c); "" when
	 * absent.  A token whose user is gone or whose password changed since
	 * is refused. */
	char cred[40];
	long long exp, nbf, iat;
	struct token_access access[TOKEN_MAX_ACCESS];
	size_t naccess;
};

struct token_key;

/* Load the Ed25519 key from path, creating it (mode 0600, atomically) if it
 * does not exist.  NULL with a reason in err. */
struct token_key *token_key_load(const char *path, char *err, size_t errcap);
void token_key_free(struct token_key *k);

/* Sign claims into a compact JWT (malloc'd, caller frees); NULL on failure. */
char *token_sign(const struct token_key *k, const struct token_claims *c, const char *iss);
/* Verify signature, algorithm, aud == service, nbf/exp against now (60 s of
 * leeway for nbf); fill claims.  0, or -1 with a reason in err. */
int token_verify(const struct token_key *k, const char *jwt, const char *service, long long now,
    struct token_claims *out, char *err, size_t errcap);

/* Parse one scope "repository:NAME:pull,push" (NAME may contain host:port,
 * so the actions are split from the right) or "registry:catalog:*".
 * Unknown actions are ignored.  0 or -1. */
int token_scope_parse(const char *scope, struct token_access *out);
/* "pull", "pull,push", ... for an action set (static buffer per call site:
 * writes into out). */
const char *token_actions_str(unsigned actions, char *out, size_t cap);

#endif
