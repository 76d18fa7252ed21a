/* SPDX-License-Identifier: ISC
 * curl_dl.c — libcurl by dlopen, on first use (see curl_dl.h for why).
 * The soname is the one Debian's libcurl4 (and every distribution since
 * curl 7.16) ships; the table is filled completely or not at all.
 */
#define CURL_DL_IMPL 1
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "curl_dl.h"

#define CURL_DL_SONAME "libcurl.so.4"

struct curl_dl curl_dl;

static pthread_once_t curl_dl_once = PTHREAD_ONCE_INIT;
static char curl_dl_err[256];		/* empty: loaded */

static const struct {
	const char *name;
	size_t off;
} curl_dl_syms[] = {
#define S(field, sym) {#sym, offsetof(struct curl_dl, field)}
	S(global_init, curl_global_init),
	S(easy_init, curl_easy_init),
	S(easy_setopt, curl_easy_setopt),
	S(easy_getinfo, curl_easy_getinfo),
	S(easy_cleanup, curl_easy_cleanup),
	S(easy_reset, curl_easy_reset),
	S(easy_perform, curl_easy_perform),
	S(easy_pause, curl_easy_pause),
	S(easy_strerror, curl_easy_strerror),
	S(easy_escape, curl_easy_escape),
	S(free, curl_free),
	S(slist_append, curl_slist_append),
	S(slist_free_all, curl_slist_free_all),
	S(multi_init, curl_multi_init),
	S(multi_setopt, curl_multi_setopt),
	S(multi_add_handle, curl_multi_add_handle),
	S(multi_remove_handle, curl_multi_remove_handle),
	S(multi_socket_action, curl_multi_socket_action),
	S(multi_assign, curl_multi_assign),
	S(multi_info_read, curl_multi_info_read),
	S(multi_cleanup, curl_multi_cleanup),
#undef S
};

static void
curl_dl_init(void)
{
	struct curl_dl t;
	void *h;

	if ((h = dlopen(CURL_DL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(curl_dl_err, sizeof(curl_dl_err), "cannot load %s: %s", CURL_DL_SONAME,
		    dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(curl_dl_syms) / sizeof(curl_dl_syms[0]); i++) {
		void *f = dlsym(h, curl_dl_syms[i].name);

		if (f == NULL) {
			snprintf(curl_dl_err, sizeof(curl_dl_err), "%s has no %s", CURL_DL_SONAME,
			    curl_dl_syms[i].name);
			dlclose(h);
			return;
		}
		/* POSIX guarantees a data pointer from dlsym converts to a
		 * function pointer; store it through memcpy to say so. */
		memcpy((char *)&t + curl_dl_syms[i].off, &f, sizeof(f));
	}
	if (t.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(curl_dl_err, sizeof(curl_dl_err), "curl_global_init failed");
		dlclose(h);
		return;
	}
	curl_dl = t;		/* the handle stays open for the process */
}

int
curl_dl_load(char *err, size_t cap)
{
	pthread_once(&curl_dl_once, curl_dl_init);
	if (curl_dl_err[0] == '\0')
		return 0;
	if (cap > 0)
		snprintf(err, cap, "%s", curl_dl_err);
	return -1;
}
