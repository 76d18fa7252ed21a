/* SPDX-License-Identifier: ISC
 * addr.c — listen addresses as the config writes them: HOST:PORT,
 * [IPV6]:PORT, localhost, * or an empty host for every address.  A leaf.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

int
addr_parse(const char *listen, struct sockaddr_storage *ss, int *sslen)
{
	char host[256];
	const char *colon;
	size_t hlen;
	uint16_t port;
	unsigned long v;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		hlen = (size_t)(rb - listen - 1);
		colon = rb + 1;
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, listen + 1, hlen);
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - listen);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, listen, hlen);
	}
	host[hlen] = '\0';
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || v > 65535)
		return -1;
	port = (uint16_t)v;
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		*sslen = sizeof(struct sockaddr_in6);
		return 0;
	}
	if (strcmp(host, "localhost") == 0)
		memcpy(host, "127.0.0.1", 10);
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		memcpy(host, "0.0.0.0", 8);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons(port);
		*sslen = sizeof(struct sockaddr_in);
		return 0;
	}
	return -1;
}

int
addr_valid(const char *listen)
{
	struct sockaddr_storage ss;
	int len;

	return addr_parse(listen, &ss, &len) == 0;
}
