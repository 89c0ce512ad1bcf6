/* types_target_c.c -- types_target's C part (a C unit, so that DWARF names
 * its structs "struct conn"): a linked list of connections hanging off a
 * typed global, each with a char * buffer and, every other one, a pointer
 * to a struct peer of its own (with a char * of its own); and a list of
 * peers off a thread-local variable of the main thread.  Every chunk here
 * is reachable only through typed pointers from g_conns or t_peers.
 *
 * And chunks whose evidence DWARF must refuse (types_target_c_decoys): one
 * that a struct peer * and a struct triple * both point at (two names: no
 * type; the struct triple * is a member of the second struct holder of a
 * list, two levels from the roots, so the chunk was typed and scanned as a
 * peer before the conflict shows: the buffer only its peer pointer reached
 * must lose its type too), one too small for the struct conn pointing at it,
 * one that a struct peer * points into the middle of. */
#include <stdio.h>
#include <stdlib.h>

struct peer {
    long id;
    char *addr;
    struct peer *next;
};

struct conn {
    struct conn *next;
    char *buf;
    struct peer *peer;
    int fd;
};

struct triple {
    long a, b, c;
};

struct conn *g_conns;
static __thread struct peer *t_peers;
struct holder {
    struct holder *next;
    struct triple *t;
};

struct peer *g_alias_peer;
struct holder *g_holder;
struct conn *g_too_small;
struct peer *g_inside;

/* Make n connections and m thread-local peers; add what was made to
 * counts: [0] struct conn, [1] struct peer, [2] char[] (heap bodies). */
void types_target_c_make(long n, long m, long counts[3])
{
    for (long i = 0; i < n; i++) {
        struct conn *c = malloc(sizeof *c);
        c->buf = malloc(64 + (size_t)(i % 200));
        snprintf(c->buf, 64, "request %ld", i);
        c->fd = (int)i;
        c->peer = NULL;
        if (i % 2 == 0) {
            c->peer = malloc(sizeof *c->peer);
            c->peer->id = i;
            c->peer->addr = malloc(32);
            snprintf(c->peer->addr, 32, "10.0.%ld.%ld", i / 256 % 256, i % 256);
            c->peer->next = NULL;
            counts[1]++;
            counts[2]++;
        }
        c->next = g_conns;
        g_conns = c;
        counts[0]++;
        counts[2]++;
    }
    for (long i = 0; i < m; i++) {
        struct peer *p = malloc(sizeof *p);
        p->id = -i;
        p->addr = malloc(48);
        snprintf(p->addr, 48, "thread-local peer %ld", i);
        p->next = t_peers;
        t_peers = p;
        counts[1]++;
        counts[2]++;
    }
}

/* The chunks DWARF must leave untyped: how many; counts as in
 * types_target_c_make ([1] struct peer, ...), [3] struct holder. */
long types_target_c_decoys(long counts[4])
{
    struct peer *p = malloc(sizeof *p);
    p->id = 1;
    p->addr = malloc(40); /* reached only through the conflicted chunk */
    snprintf(p->addr, 40, "aliased");
    p->next = NULL;
    g_alias_peer = p;
    struct holder *second = malloc(sizeof *second);
    second->next = NULL;
    second->t = (struct triple *)p;
    g_holder = malloc(sizeof *g_holder);
    g_holder->next = second;
    g_holder->t = NULL;
    counts[3] += 2;
    g_too_small = malloc(8); /* 24 usable bytes, a struct conn needs 32 */
    char *big = malloc(64);
    g_inside = (struct peer *)(big + 16);
    return 4;
}

/* The thread-local list's head, so that the compiler keeps it. */
void *types_target_c_tls(void) { return t_peers; }

/* A list of n peers held by a local variable in this function's stack
 * frame only (its address is passed on, so it lives in memory: DWARF puts
 * it at an offset from the frame's CFA), then `then`, which never returns:
 * the variable is on the stack for as long as the process waits. */
void types_target_c_hold(long n, long counts[4], void (*then)(void))
{
    struct peer *volatile local = NULL;
    for (long i = 0; i < n; i++) {
        struct peer *p = malloc(sizeof *p);
        p->id = 1000000 + i;
        p->addr = malloc(24);
        snprintf(p->addr, 24, "stack peer %d", (int)(i % 100000));
        p->next = local;
        local = p;
        counts[1]++;
        counts[2]++;
    }
    then();
    local = NULL; /* after then(), which does not return: keeps local live */
}

/* A struct the C++ unit only declares: its pointer there (g_opaque) is to
 * an incomplete type, whose definition is found here, by name. */
struct opaque {
    long a;
    char *text;
};

struct opaque *types_target_c_opaque(void)
{
    struct opaque *o = malloc(sizeof *o);
    o->a = 42;
    o->text = malloc(56);
    snprintf(o->text, 56, "held through an opaque pointer");
    return o;
}
