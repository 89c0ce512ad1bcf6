/*
 * gt_static -- a statically linked program that never calls malloc: heapgrab
 * must refuse it with one line (and leave it running).  It says "ready",
 * then blocks in read(2) until stdin closes.
 */
#include <unistd.h>

int main(void)
{
    char c;
    if (write(1, "ready\n", 6) != 6)
        return 1;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
