/* SPDX-License-Identifier: ISC
 * manifest.c — placeholder until the manifest plane lands. */
#include "handlers.h"
#include "server.h"

void manifest_get(struct request *req) { req_error(req, ERR_MANIFEST_UNKNOWN, NULL); }
void manifest_put(struct request *req) { req_error(req, ERR_UNSUPPORTED, NULL); }
void manifest_delete(struct request *req) { req_error(req, ERR_UNSUPPORTED, NULL); }
void tags_list(struct request *req) { req_error(req, ERR_NAME_UNKNOWN, NULL); }
void tags_catalog(struct request *req) { req_respond(req, 200, "application/json", "{\"repositories\":[]}", 19); }
void referrers_get(struct request *req) { req_error(req, ERR_UNSUPPORTED, NULL); }
