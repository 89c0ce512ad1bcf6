/*
 * leaky_server -- an HTTP/1.0 server on 127.0.0.1 whose handler appends a
 * 10 KB buffer to a global list on every request and never frees it: the
 * heap grows with the request count.  Usage: leaky_server [PORT] (0 = any;
 * prints "pid N" and "port P").  Watch it with
 *   heapgrab PID --interval 10 --count 6 -o leak.%d.pprof
 *   go tool pprof -base leak.0.pprof leak.5.pprof
 */
#include "samples/server.h"

struct node {
    struct node *next;
    char data[10 * 1024 - sizeof(struct node *)];
};
static struct node *tracker;
static unsigned long requests;

static int handle(char *reply, size_t cap)
{
    struct node *n = malloc(sizeof *n);
    if (!n)
        return -1;
    memset(n->data, 'r', sizeof n->data);
    n->next = tracker;
    tracker = n;
    return snprintf(reply, cap, "ok %lu\n", ++requests);
}

int main(int argc, char **argv) { return serve(argc > 1 ? atoi(argv[1]) : 8080, handle); }
