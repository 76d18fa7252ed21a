/* ui.h — the web page that browses the registry (issue 18): static files
 * embedded at build time (scripts/embed-ui turns src/ui/ into a generated
 * C file under build/) and one JSON listing the page needs beyond /v2/.
 *
 * Routes: "/" and "/ui" redirect to /ui/; /ui/ serves index.html, /ui/NAME
 * an embedded file, GET /ui/api/repos the repository listing (see
 * ociregd(8)).  All of it answers 404 when [ui] enabled = false. */
#ifndef OCIREGD_UI_H
#define OCIREGD_UI_H

#include <stddef.h>

struct request;

/* One embedded file (the generated table; data is not NUL-terminated as
 * far as len goes). */
struct ui_asset {
	const char *name;
	const unsigned char *data;
	size_t len;
};

extern const struct ui_asset ui_assets[];
extern const size_t ui_nassets;

/* Called by the router before /v2/ routing.  Returns 1 if the request was
 * a UI path and has been answered (or rejected by the auth gate), 0 to let
 * the router go on.  Runs SQLite reads on the worker thread for
 * /ui/api/repos, like the catalog does. */
int ui_dispatch(struct request *req);

#endif
