/* router.h — the gates every request goes through and the route table
 * {method, kind} -> handler (the /v2/ URL layout itself is route.h). */
#ifndef OCIREGD_ROUTER_H
#define OCIREGD_ROUTER_H

#include "route.h"

struct request;

/* Dispatch a request whose headers are complete, through one fixed list of
 * gates: split the path, find the route, resolve the target repository
 * ([proxy] prefixes, ?ns=, mirror mode), authenticate and authorize that
 * target, then call the handler (or the pull-through cache).  After the
 * resolve gate req->m is never written again. */
void router_dispatch(struct request *req);

#endif
