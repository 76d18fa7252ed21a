/* ops.h — the operator's endpoints: /healthz, /readyz, /metrics. */
#ifndef OCIREGD_OPS_H
#define OCIREGD_OPS_H

struct request;

/* Answer req if it is one of the operator's endpoints, or if it came in on
 * [server] metrics_listen (where they are all there is).  Returns 1 if
 * answered, 0 to let the registry's routes have it. */
int ops_dispatch(struct request *req);

#endif
