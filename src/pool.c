/* SPDX-License-Identifier: ISC
 * pool.c — blocking work off the event loops: a mutex/condition queue
 * served by a few threads; completion is handed back to the submitting
 * worker's event base as a one-shot event.
 */
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/time.h>

#include "log.h"
#include "pool.h"

struct pool_job {
	struct pool_job *next;
	struct event_base *base;
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pool_job *head, *tail;
	int stopping;
	int n;
	pthread_t *threads;
};

static void
pool_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_job *j = arg;

	(void)fd;
	(void)what;
	j->done(j->arg);
	free(j);
}

static void *
pool_thread(void *arg)
{
	struct pool *p = arg;
	struct timeval now = {0, 0};

	for (;;) {
		struct pool_job *j;

		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if ((j = p->head) == NULL) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		p->head = j->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->work(j->arg);
		if (event_base_once(j->base, -1, EV_TIMEOUT, pool_done_cb, j, &now) != 0) {
			log_error("pool: cannot hand a finished job back to its worker");
			free(j);
		}
	}
}

struct pool *
pool_new(int n)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((p->threads = calloc((size_t)n, sizeof(*p->threads))) == NULL) {
		free(p);
		return NULL;
	}
	for (; p->n < n; p->n++) {
		if (pthread_create(&p->threads[p->n], NULL, pool_thread, p) != 0) {
			pool_free(p);
			return NULL;
		}
	}
	return p;
}

int
pool_submit(struct pool *p, struct event_base *base, void (*work)(void *),
    void (*done)(void *), void *arg)
{
	struct pool_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -1;
	j->base = base;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&p->mu);
	if (p->tail != NULL)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}
