// cxx_target -- a C++ thread in a namespaced member function and a
// template, for the test that stack frames come out demangled.
#include <cstdio>
#include <thread>
#include <unistd.h>

namespace app {
template <typename T> struct Worker {
    volatile T n = 0;
    __attribute__((noinline)) void spin(int rounds)
    {
        for (;;)
            n = n + static_cast<T>(rounds);
    }
};
}  // namespace app

int main()
{
    app::Worker<long> w;
    std::thread t([&] { w.spin(3); });
    usleep(100000);
    std::printf("%d\n", (int)getpid());
    std::fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    _exit(0);
}
