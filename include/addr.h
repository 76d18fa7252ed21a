/* addr.h — parsing [server] listen addresses.  A leaf module. */
#ifndef OCIREGD_ADDR_H
#define OCIREGD_ADDR_H

#include <sys/socket.h>

/* "HOST:PORT", "[V6]:PORT", "localhost:PORT", "*:PORT" or ":PORT" into a
 * socket address.  0, or -1 if it does not parse. */
int addr_parse(const char *listen, struct sockaddr_storage *ss, int *sslen);
/* Whether listen parses. */
int addr_valid(const char *listen);

#endif
