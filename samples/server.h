/* server.h -- the tiny HTTP/1.0 loop the sample servers share (127.0.0.1
 * only, one connection at a time: enough to drive a heap). */
#ifndef SAMPLES_SERVER_H
#define SAMPLES_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*handler)(char *reply, size_t cap);

static int serve(int port, handler h)
{
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    printf("pid %d\nport %d\n", (int)getpid(), ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        char req[2048], body[128], reply[512];
        if (read(c, req, sizeof req) > 0) {
            int n = h(body, sizeof body);
            if (n < 0)
                n = snprintf(body, sizeof body, "error\n");
            int m = snprintf(reply, sizeof reply,
                             "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: %d\r\n\r\n%s", n, body);
            if (write(c, reply, (size_t)m) < 0)
                perror("write");
        }
        close(c);
    }
}

#endif
