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

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* One access-log line: peer, method, target, status, bytes received and
 * sent, microseconds, and the worker that served it. */
void log_access(const char *peer, const char *method, const char *path, int status,
    unsigned long long bytes_in, unsigned long long bytes_out, long long usec, int worker);

#endif
