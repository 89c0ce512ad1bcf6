// cxx_alloc_target -- C++ allocations for the sampler: new and new[] from
// a namespaced member function, whose frames must come out with the
// operator new frames left out.  Prints {"pid": N, "fill": [objects,
// usable bytes]} once done (usable sizes from malloc_usable_size), then
// waits for stdin to close.
#include <cstdio>
#include <malloc.h>
#include <unistd.h>

namespace app {
struct Cache {
    char *items[3000];
    unsigned long objects = 0, bytes = 0;
    __attribute__((noinline)) void fill()
    {
        for (int i = 0; i < 3000; i++) {
            char *p = i % 2 ? new char[200 + i % 5] : static_cast<char *>(::operator new(64));
            p[0] = static_cast<char>(i);
            items[i] = p;
            objects++;
            bytes += malloc_usable_size(p);
        }
    }
};
}  // namespace app

int main()
{
    static app::Cache c;
    c.fill();
    std::printf("{\"pid\": %d, \"fill\": [%lu, %lu]}\n", static_cast<int>(getpid()), c.objects,
                c.bytes);
    std::fflush(stdout);
    char ch;
    while (read(0, &ch, 1) > 0) {
    }
    return 0;
}
