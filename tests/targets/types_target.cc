// types_target -- a C++ process whose heap holds objects of known classes,
// in known numbers, for the types tests (tests/types/).
//
//   types_target [SCALE]     SCALE multiplies every count (default 1)
//
// It allocates, then prints one JSON line and waits for standard input to
// close:
//   {"pid": N, "classes": {"geo::Circle": 1250, ...}, "untyped_at_least": K,
//    "size_decoys": {"geo::Poly<float>": 50}, "poly_float_size": 64,
//    "dwarf": {"struct conn": 2000, "char[]": 3210, "Foo[]": 1, ...},
//    "map_nodes": 311}
// "classes" is every class that has objects on the heap, each object a
// chunk of its own whose first word is the class's vtable pointer, with
// the class named as the debugger names it (demangled typeid).  "dwarf" is
// every other chunk reachable from the program's typed variables, and from
// the members of its objects typed by their vtables, through typed
// pointers, by the name its static type gives it (a vector's body
// "T[]" with T demangled, "char[]" for a string's heap body or a char *
// buffer), less std::map's nodes, whose DWARF names are the compiler's
// business: "map_nodes" counts them, "hash_nodes" std::unordered_map's
// (and its bucket array is one chunk), "list_nodes" std::list's.  What remains has no type: plain C
// structs held through void * (one with a function pointer first, one with
// a string literal first), a chunk holding a base subobject's (secondary)
// vtable pointer at its start, and one whose first word points into the
// middle of a vtable -- typing any of those would be wrong.  K counts them.
// The size decoys are chunks too small for the class whose vtable pointer
// they start with: untyped when the class's size is known (DWARF), that
// class's otherwise.
#include <cxxabi.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <vector>

namespace geo {
struct Shape {
    int id = 0;
    virtual ~Shape() {}
    virtual double area() const = 0;
};
struct Circle : Shape {
    double r = 1;
    double area() const override { return 3.14159 * r * r; }
};
struct Square : Shape {
    double side = 2;
    double area() const override { return side * side; }
};
template <typename T> struct Poly : Shape {
    T pts[12] = {};
    double area() const override { return static_cast<double>(pts[0]); }
};
// a class with a vtable and typed pointers into the heap: found by its
// vtable, then its members, by its DWARF, type what they point at
struct Part {
    long id;
    double weight;
    long count;
};
struct Gadget : Shape {
    char *note = nullptr;
    std::vector<int> v;
    Part *part = nullptr;
    double area() const override { return static_cast<double>(v.size()); }
};
// big enough to be served by its own mmap
struct Raster : Shape {
    unsigned char pixels[300000];
    double area() const override { return pixels[0]; }
};
}  // namespace geo

// multiple inheritance: Widget's primary vtable (Shape-in-Widget) is at
// offset 0, Named-in-Widget's secondary one further in
struct Named {
    char label[8] = "named";
    virtual ~Named() {}
    virtual const char *name() const { return label; }
};
struct Widget : geo::Shape, Named {
    double w = 3;
    double area() const override { return w; }
    const char *name() const override { return "widget"; }
};
// virtual inheritance: the address point comes after a vbase offset
struct VBase {
    long v = 7;
    virtual ~VBase() {}
};
struct Diamond : virtual VBase {
    long d = 8;
    virtual void poke() { d++; }
};
// held by std::make_shared: lives inside the control block, whose vtable
// types the chunk
struct Session {
    long user = 1;
    std::string name = "s";
};

// plain C structs; a list of them off a typed global, in a C unit
// (types_target_c.c)
extern "C" {
void types_target_c_make(long n, long m, long counts[3]);
void *types_target_c_tls(void);
long types_target_c_decoys(long counts[4]);
struct opaque; // defined in the C unit only
struct opaque *types_target_c_opaque(void);
void types_target_c_hold(long n, long counts[4], void (*then)(void));
struct handler {
    void (*fn)(void);
    int x;
};
struct label {
    const char *text;
    int n;
};
}
static void handler_fn(void) {}

// an element of a vector: its body is a Foo[]
struct Foo {
    int a;
    double b;
    char *label;
};

struct opaque *g_opaque; // DWARF here says only "struct opaque;"
static std::vector<geo::Shape *> g_shapes;    // every polymorphic object
static std::vector<Named *> g_named;
static std::vector<Diamond *> g_diamonds;
static std::vector<std::shared_ptr<Session>> g_sessions;
static std::vector<std::shared_ptr<geo::Square>> g_squares;
static std::vector<void *> g_plain;
static std::vector<std::stringstream *> g_streams;
static std::map<std::string, long> g_counts;
static std::map<int, std::string> g_map;
// maps in a map's nodes: each inner map's nodes are its own kind
static std::map<int, std::map<int, long>> g_nested;
// a hash table (its nodes, its bucket array) and a list, of heap strings
static std::unordered_map<int, std::string> g_hash;
static std::list<std::string> g_strings;
static std::vector<Foo> g_foos;

static std::string demangled(const char *mangled)
{
    int status = -1;
    char *d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    std::string out = status == 0 && d ? d : mangled;
    std::free(d);
    return out;
}

template <typename T> static void count(long n)
{
    g_counts[demangled(typeid(T).name())] += n;
}

// the class of a shared_ptr's control block, from its vtable's typeinfo:
// its name is the library's business (allocator and lock policy arguments)
template <typename T> static std::string control_block(const std::shared_ptr<T> &p)
{
    struct raw {
        void *ptr;
        void *pi;
    };
    static_assert(sizeof(std::shared_ptr<T>) == sizeof(raw), "shared_ptr is two pointers");
    raw r;
    std::memcpy(&r, &p, sizeof r);
    void **vptr = *static_cast<void ***>(r.pi);
    const std::type_info *ti = static_cast<const std::type_info *>(vptr[-1]);
    return demangled(ti->name());
}

static long g_scale = 1;

static void *thread_objects(void *)
{
    // in a thread arena
    for (long i = 0; i < 250 * g_scale; i++)
        g_shapes.push_back(new geo::Circle);
    return nullptr;
}

// The ground truth, printed once everything is made; then wait for
// standard input to close.  Called from the C part's frame that holds the
// stack-held peers (types_target_c_hold), with the counts up to date.
static size_t nested_nodes(void)
{
    size_t n = g_counts.size() + g_map.size() + g_nested.size();
    for (const auto &kv : g_nested)
        n += kv.second.size();
    return n;
}

static long g_untyped, g_chars, g_chars_base;
static const long *g_c_counts;
static long g_stack_base[4];
static void print_truth(void)
{
    long s = g_scale, untyped = g_untyped, chars = g_chars;
    const long *c_counts = g_c_counts;
    chars += c_counts[2] - g_chars_base;
    std::printf("{\"pid\": %d, \"classes\": {", static_cast<int>(getpid()));
    const char *sep = "";
    for (const auto &kv : g_counts) {
        std::printf("%s\"%s\": %ld", sep, kv.first.c_str(), kv.second);
        sep = ", ";
    }
    std::printf("}, \"untyped_at_least\": %ld, \"size_decoys\": {\"%s\": %ld}, "
                "\"poly_float_size\": %zu",
                untyped, demangled(typeid(geo::Poly<float>).name()).c_str(), 50 * s,
                sizeof(geo::Poly<float>));
    // the names DWARF gives: every container's body is one chunk
    for (const auto &kv : g_counts)
        chars += kv.first.capacity() > 15;
    std::map<std::string, long> dwarf;
    dwarf["struct conn"] = c_counts[0];
    dwarf["struct peer"] = c_counts[1];
    dwarf["struct holder"] = c_counts[3];
    dwarf["struct opaque"] = 1;
    dwarf["char[]"] = chars + 80 * s; // and each Gadget's note
    dwarf["int[]"] = 80 * s;            // each Gadget's vector's body
    dwarf["geo::Part"] = 80 * s;
    dwarf["Foo[]"] = 1;
    dwarf[demangled(typeid(geo::Shape *).name()) + "[]"] += 1;
    dwarf[demangled(typeid(Named *).name()) + "[]"] += 1;
    dwarf[demangled(typeid(Diamond *).name()) + "[]"] += 1;
    dwarf[demangled(typeid(std::shared_ptr<Session>).name()) + "[]"] += 1;
    dwarf[demangled(typeid(std::shared_ptr<geo::Square>).name()) + "[]"] += 1;
    dwarf[demangled(typeid(void *).name()) + "[]"] += 1;
    dwarf[demangled(typeid(std::stringstream *).name()) + "[]"] += 1;
    std::printf(", \"dwarf\": {");
    sep = "";
    for (const auto &kv : dwarf) {
        std::printf("%s\"%s\": %ld", sep, kv.first.c_str(), kv.second);
        sep = ", ";
    }
    // what only a frame's stack slot holds (a debugger's reader without
    // the threads' registers cannot see it)
    std::printf("}, \"hash_nodes\": %zu, \"list_nodes\": %zu", g_hash.size(), g_strings.size());
    std::printf(", \"map_nodes\": %zu, \"tls_head\": %d, "
                "\"stack_held\": {\"struct peer\": %ld, \"char[]\": %ld}}\n",
                nested_nodes(), types_target_c_tls() != nullptr,
                c_counts[1] - g_stack_base[1], c_counts[2] - g_stack_base[2]);
    std::fflush(stdout);
}

// print_truth's locals (a std::map among them) are gone before the wait:
// only the stack-held peers are held by a frame then
static void print_and_wait(void)
{
    print_truth();
    char c;
    while (read(0, &c, 1) > 0) {
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        g_scale = std::atol(argv[1]) > 0 ? std::atol(argv[1]) : 1;
    long s = g_scale;
    g_shapes.reserve(4000 * s);
    g_named.reserve(200 * s);
    g_plain.reserve(4000 * s);

    for (long i = 0; i < 1000 * s; i++)
        g_shapes.push_back(new geo::Circle);
    for (long i = 0; i < 500 * s; i++)
        g_shapes.push_back(new geo::Square);
    for (long i = 0; i < 300 * s; i++)
        g_shapes.push_back(new geo::Poly<float>);
    for (long i = 0; i < 40 * s; i++)
        g_shapes.push_back(new geo::Poly<double>);
    for (long i = 0; i < 3; i++)
        g_shapes.push_back(new geo::Raster);
    for (long i = 0; i < 200 * s; i++) {
        Widget *w = new Widget;
        g_shapes.push_back(w);
        g_named.push_back(w);
    }
    for (long i = 0; i < 80 * s; i++) {
        geo::Gadget *gd = new geo::Gadget;
        gd->note = static_cast<char *>(std::malloc(40));
        std::snprintf(gd->note, 40, "gadget %ld", i);
        gd->v.assign(6, static_cast<int>(i)); // one int[6] body
        gd->part = new geo::Part{i, 1.5, 2};
        g_shapes.push_back(gd);
    }
    for (long i = 0; i < 60 * s; i++)
        g_named.push_back(new Named);
    for (long i = 0; i < 100 * s; i++)
        g_diamonds.push_back(new Diamond);
    for (long i = 0; i < 150 * s; i++)
        g_sessions.push_back(std::make_shared<Session>());
    for (long i = 0; i < 120 * s; i++)
        g_squares.push_back(std::shared_ptr<geo::Square>(new geo::Square));

    // a library's class with a virtual base, whose vtable the program uses
    // through a copy relocation (the copy's symbol carries the library's
    // version: _ZTV...@GLIBCXX_3.4.21)
    for (long i = 0; i < 30 * s; i++)
        g_streams.push_back(new std::stringstream);

    pthread_t th;
    if (pthread_create(&th, nullptr, thread_objects, nullptr) != 0 ||
        pthread_join(th, nullptr) != 0)
        return 1;

    count<geo::Circle>(1000 * s + 250 * s);
    count<geo::Square>(500 * s + 120 * s);
    count<geo::Poly<float>>(300 * s);
    count<geo::Poly<double>>(40 * s);
    count<geo::Raster>(3);
    count<Widget>(200 * s);
    count<geo::Gadget>(80 * s);
    count<Named>(60 * s);
    count<Diamond>(100 * s);
    count<std::stringstream>(30 * s);
    g_counts[control_block(g_sessions[0])] += 150 * s;
    g_counts[control_block(g_squares[0])] += 120 * s;

    // Typed by DWARF: C structs off a global and a thread-local variable,
    // a map with heap-bodied strings, a vector of structs.
    static long c_counts[4] = {0, 0, 0, 0};
    g_c_counts = c_counts;
    types_target_c_make(2000 * s, 40 * s, c_counts);
    long chars = c_counts[2];
    g_chars_base = c_counts[2];
    for (long i = 0; i < 300 * s; i++) {
        // every other string longer than the 15 bytes kept in the object
        std::string v = i % 2 ? "short " + std::to_string(i)
                              : "a value too long to be kept inside, " + std::to_string(i);
        g_map.emplace(static_cast<int>(i), v);
    }
    for (const auto &kv : g_map)
        chars += kv.second.capacity() > 15;
    for (long i = 0; i < 150 * s; i++) {
        g_hash[static_cast<int>(i)] = "a hashed value kept on the heap " + std::to_string(i);
        g_strings.push_back("a listed value kept on the heap " + std::to_string(i));
        chars += 2;
    }
    for (long i = 0; i < 20 * s; i++)
        for (long j = 0; j < 1 + i % 7; j++)
            g_nested[static_cast<int>(i)][static_cast<int>(j)] = i * j;
    for (long i = 0; i < 500 * s; i++) {
        Foo f{static_cast<int>(i), 0.5 * i, static_cast<char *>(std::malloc(16 + i % 40))};
        std::memcpy(f.label, "foo", 4);
        g_foos.push_back(f);
        chars++;
    }

    // Untyped: C structs and decoys.
    long untyped = types_target_c_decoys(c_counts);
    g_opaque = types_target_c_opaque();
    chars++;
    for (long i = 0; i < 100 * s; i++) {
        struct handler *h = static_cast<struct handler *>(std::malloc(sizeof *h));
        h->fn = handler_fn;
        h->x = static_cast<int>(i);
        g_plain.push_back(h);
        struct label *l = static_cast<struct label *>(std::malloc(sizeof *l));
        l->text = "a string literal";
        l->n = static_cast<int>(i);
        g_plain.push_back(l);
        untyped += 2;
    }
    Widget *w0 = static_cast<Widget *>(g_shapes[1000 * s + 500 * s + 300 * s + 40 * s + 3]);
    Named *secondary = w0;  // Named-in-Widget: a secondary vtable pointer
    void *secondary_vptr = *reinterpret_cast<void **>(secondary);
    void *primary_vptr = *reinterpret_cast<void **>(w0);
    for (long i = 0; i < 50 * s; i++) {
        void **d = static_cast<void **>(std::malloc(32));
        d[0] = secondary_vptr;
        d[1] = nullptr;
        g_plain.push_back(d);
        void **m = static_cast<void **>(std::malloc(32));
        m[0] = static_cast<char *>(primary_vptr) + 8;  // inside the vtable, not its address point
        m[1] = nullptr;
        g_plain.push_back(m);
        untyped += 2;
    }

    // too small for the class its first word names: 24 usable bytes that
    // start with geo::Poly<float>'s vtable pointer (the class needs 64).
    // Typed only where nothing says how big the class is (no DWARF).
    void *poly_vptr = *reinterpret_cast<void **>(g_shapes[1000 * s + 500 * s]);
    for (long i = 0; i < 50 * s; i++) {
        void **d = static_cast<void **>(std::malloc(24));
        d[0] = poly_vptr;
        d[1] = nullptr;
        g_plain.push_back(d);
    }

    // the last peers are held by a variable in a frame's stack slot (the C
    // part's), which calls print_and_wait and never returns
    g_untyped = untyped;
    g_chars = chars;
    for (int k = 0; k < 4; k++)
        g_stack_base[k] = c_counts[k];
    types_target_c_hold(30 * s, c_counts, print_and_wait);
    return 1;
}
