/* log.h — leveled logging to stderr (journald adds timestamps under systemd).
 * Thread-safe: each line is one write(2). */
#ifndef OCIREGD_LOG_H
#define OCIREGD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "debug|info|warn|error"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* s for one field of a log line: bytes below 0x21 or above 0x7e, '"' and
 * '\\' written as \xHH, so a hostile string (a user name tried at a
 * login) neither splits the line nor fakes a field.  Cut short to fit cap;
 * returns dst. */
const char *log_escape(char *dst, size_t cap, const char *s);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

struct log_access_rec {
	const char *peer;
	const char *user;	/* NULL or "" if anonymous */
	const char *method;
	const char *path;
	const char *digest;	/* NULL if none applies */
	int status;
	unsigned long long bytes_in, bytes_out;
	long long usec;
	int worker;
};

enum log_access_format { LOG_ACCESS_OFF = 0, LOG_ACCESS_TEXT = 1, LOG_ACCESS_JSON = 2 };

/* One access-log line: text ("access: PEER METHOD TARGET STATUS in=N
 * out=N Nus w=N", then " user=NAME" if authenticated, NAME escaped as by
 * log_escape) or one JSON object. */
void log_access(enum log_access_format fmt, const struct log_access_rec *r);

#endif
