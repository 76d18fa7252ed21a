/* curl_dl.h — libcurl, loaded when a [proxy] section or the S3 backend needs it.
 *
 * Linking libcurl maps it and some twenty libraries it depends on (GnuTLS,
 * Kerberos, LDAP, libssh2, ...) into every ociregd, and their constructors
 * and relocations alone keep about 4 MiB resident, more than half of an idle
 * daemon.  Only the pull-through cache (upstream.c) and the S3 blob backend
 * (s3.c) use libcurl, so they call it through this table, filled by dlopen on
 * first use.  They include this
 * header instead of <curl/curl.h>: the macros below turn its curl_* calls
 * into calls through the table. */
#ifndef OCIREGD_CURL_DL_H
#define OCIREGD_CURL_DL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stddef.h>

struct curl_dl {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_pause)(CURL *, int);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
};

extern struct curl_dl curl_dl;

/* Load libcurl and call curl_global_init, once per process (thread-safe).
 * 0, or -1 with the reason in err. */
int curl_dl_load(char *err, size_t cap);

#ifndef CURL_DL_IMPL
/* curl.h defines these three as macros of themselves. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (*curl_dl.global_init)
#define curl_easy_init (*curl_dl.easy_init)
#define curl_easy_setopt (*curl_dl.easy_setopt)
#define curl_easy_getinfo (*curl_dl.easy_getinfo)
#define curl_easy_cleanup (*curl_dl.easy_cleanup)
#define curl_easy_reset (*curl_dl.easy_reset)
#define curl_easy_perform (*curl_dl.easy_perform)
#define curl_easy_pause (*curl_dl.easy_pause)
#define curl_easy_strerror (*curl_dl.easy_strerror)
#define curl_easy_escape (*curl_dl.easy_escape)
#define curl_free (*curl_dl.free)
#define curl_slist_append (*curl_dl.slist_append)
#define curl_slist_free_all (*curl_dl.slist_free_all)
#define curl_multi_init (*curl_dl.multi_init)
#define curl_multi_setopt (*curl_dl.multi_setopt)
#define curl_multi_add_handle (*curl_dl.multi_add_handle)
#define curl_multi_remove_handle (*curl_dl.multi_remove_handle)
#define curl_multi_socket_action (*curl_dl.multi_socket_action)
#define curl_multi_assign (*curl_dl.multi_assign)
#define curl_multi_info_read (*curl_dl.multi_info_read)
#define curl_multi_cleanup (*curl_dl.multi_cleanup)
#endif

#endif
