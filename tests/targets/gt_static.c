/*
 * gt_static -- a statically linked program that never calls malloc itself
 * (glibc's start-up code does).  With glibc it says "ready ARENA UORDBLKS
 * HBLKS" from its own mallinfo2(); built with another libc (musl-gcc), just
 * "ready".  Then it blocks in read(2) until stdin closes.
 */
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#include <stdio.h>
#endif

int main(void)
{
    char line[128] = "ready\n", c;
#ifdef __GLIBC__
    struct mallinfo2 m = mallinfo2();
    snprintf(line, sizeof line, "ready %zu %zu %zu\n", m.arena, m.uordblks, m.hblks);
#endif
    size_t n = 0;
    while (line[n])
        n++;
    if (write(1, line, n) != (ssize_t)n)
        return 1;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
