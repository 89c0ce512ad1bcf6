#!/usr/bin/env python3
"""heapgrab on real Debian programs nobody here wrote, against glibc itself.

Each program is started with tests/targets/mallinfo_probe.c's library in
LD_PRELOAD (HG_MI_PROBE names it): a thread of its own in the program and
in every child it forks answers glibc's mallinfo2() on request, from
inside.  (GDB cannot be the one to call it: on a CPU with AMX state, with
a recent kernel, Debian 12's GDB 13 fails to restore the registers after
an inferior call -- "Couldn't write extended state status: Bad address"
-- and the process dies later.  GDB here only reads memory.)  The program
is given work (a big heap, traffic), and then, while it is idle, on each
process of it:
  - glibc's figures are asked, then `heapsnap --json` runs in GDB, then
    the CLI with symbols and with the heuristics (--locate heuristic),
    then glibc's figures are asked again: the two answers must be the same
    (the heap did not move; tried three times), and heapsnap's, the CLI's
    with symbols and its heuristics' mallinfo2 must equal glibc's in all
    ten fields, with no problems found;
  - after each tool the process is untraced and running, and the servers
    (nginx, memcached) still answer requests at the end.

Programs: perl and python3 with big heaps (interpreters), nginx's forked
workers after traffic (a prefork server: their heaps grew after fork),
a PostgreSQL backend after a query (a forked worker with a big heap) and
memcached with four worker threads after traffic (a multithreaded server).

Usage: test_realworld.py [PROGRAM...]   (default: all)
Environment: HEAPGRAB (the CLI), HG_MI_PROBE (the probe library, required),
HEAPGRAB_LIBRARY (for heapsnap; without it, the GDB comparison is skipped
and said so: the ASan build cannot load the library into gdb).  A program
that is not installed is a failure, not a skip, unless
HG_REALWORLD_OPTIONAL is set: scripts/deps.sh installs them.
"""
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Failure, Skip, check, equal, run  # noqa: E402
import targets  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.normpath(os.path.join(HERE, "..", "..", "gdb", "heapsnap.py"))
HEAPGRAB = os.environ.get("HEAPGRAB", "")
PROBE = os.environ.get("HG_MI_PROBE", "")
MI_FIELDS = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
             "fsmblks", "uordblks", "fordblks", "keepcost"]


def need(*programs):
    for p in programs:
        if not (shutil.which(p) or os.path.exists(p)):
            if os.environ.get("HG_REALWORLD_OPTIONAL"):
                raise Skip(f"{p} is not installed")
            raise Failure(f"{p} is not installed (scripts/deps.sh installs it)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise Failure(f"nothing listens on port {port} after {timeout} s")


def wait_for(cond, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise Failure(f"timed out waiting for {what}")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def untraced_and_running(pid):
    targets.untraced_and_running(pid)


# ----------------------------------------------------------------- checks

def gdb_heapsnap(pid):
    """heapsnap's figures, in GDB (memory reads only: no function is
    called in the process, see the module's docstring)."""
    if not os.environ.get("HEAPGRAB_LIBRARY"):
        print(f"     (pid {pid}: no HEAPGRAB_LIBRARY, GDB comparison not made)")
        return None
    argv = ["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
            "-ex", f"source {SCRIPT}", "-ex", "heapsnap --json"]
    r = subprocess.run(argv, capture_output=True, timeout=300)
    out = r.stdout.decode(errors="replace")
    start = out.find("{\n")
    check(start >= 0, f"pid {pid}: no heapsnap JSON in GDB's output: "
          f"{(out + r.stderr.decode(errors='replace'))[-800:]}")
    hs = json.JSONDecoder().raw_decode(out[start:])[0]
    equal(hs["problems_total"], 0, f"pid {pid}: problems in GDB ({hs['problems'][:2]})")
    untraced_and_running(pid)
    return hs


def cli_stats(pid, *opts):
    r = subprocess.run([HEAPGRAB, "stats", "--json", *opts, str(pid)], capture_output=True,
                       timeout=300)
    check(r.returncode == 0, f"heapgrab stats {' '.join(opts)} {pid}: exit {r.returncode}: "
          f"{r.stderr.decode(errors='replace').strip()}")
    return json.loads(r.stdout)


def check_process(pid, what, probe):
    """The checks every program gets, on one process of it: glibc's
    mallinfo2() (the probe's, asked before and after) against heapsnap in
    GDB and the CLI with symbols and with the heuristics."""
    for attempt in range(3):
        glibc = probe.ask(pid)
        hs = gdb_heapsnap(pid)
        sym = cli_stats(pid, "--locate", "symbols")
        untraced_and_running(pid)
        heu = cli_stats(pid, "--locate", "heuristic")
        untraced_and_running(pid)
        # the process is idle: nothing moved while heapgrab looked (and
        # it is alive and well enough to answer again)
        again = probe.ask(pid)
        if again == glibc:
            break
        print(f"     ({what} pid {pid}: its heap moved during the checks "
              f"({glibc} then {again}); again)")
    else:
        raise Failure(f"{what} (pid {pid}): never idle for the length of the checks")
    for f in MI_FIELDS:
        if hs is not None:
            equal(hs["mallinfo2"][f], glibc[f], f"{what} (pid {pid}): mallinfo2.{f}, "
                  "heapsnap in GDB vs glibc")
        equal(sym["mallinfo2"][f], glibc[f], f"{what} (pid {pid}): mallinfo2.{f}, "
              "CLI (symbols) vs glibc")
        equal(heu["mallinfo2"][f], glibc[f], f"{what} (pid {pid}): mallinfo2.{f}, "
              "CLI (heuristic) vs glibc")
    equal(sym["problems_total"], 0, f"{what} (pid {pid}): problems ({sym['problems'][:2]})")
    equal(heu["problems_total"], 0, f"{what} (pid {pid}): problems, heuristic")
    equal(heu["mallinfo2"], sym["mallinfo2"], f"{what} (pid {pid}): mallinfo2, heuristic vs symbols")
    equal(heu["totals"], sym["totals"], f"{what} (pid {pid}): totals, heuristic vs symbols")
    if hs is not None:
        equal(sym["mallinfo2"], hs["mallinfo2"], f"{what} (pid {pid}): mallinfo2, CLI vs GDB")
    # (the walker itself reports, as a problem, any arena whose chunks do not
    # account for its system_mem exactly; here the arenas must add up too)
    equal(sum(a["system_mem"] for a in sym["arenas"]), sym["mallinfo2"]["arena"],
          f"{what} (pid {pid}): arenas' system_mem against mallinfo2.arena")
    untraced_and_running(pid)
    print(f"     {what} (pid {pid}): glibc's mallinfo2 = heapgrab's "
          f"({'GDB, ' if hs is not None else ''}CLI x2): arena {glibc['arena']}, "
          f"uordblks {glibc['uordblks']}, fordblks {glibc['fordblks']}, "
          f"hblkhd {glibc['hblkhd']}, {len(sym['arenas'])} arenas")
    return sym


class Probe:
    """glibc's mallinfo2() from inside a program (tests/targets/
    mallinfo_probe.c, LD_PRELOADed): the program's processes, and the
    children they fork, each answer on a FIFO named after their pid in a
    directory of the test's."""

    def __init__(self, cleanups):
        check(PROBE and os.path.exists(PROBE),
              f"HG_MI_PROBE must name the mallinfo probe library (is {PROBE!r})")
        self.dir = tempfile.mkdtemp(prefix="hg-mi-")
        # servers that drop privileges (memcached, postgres) make their
        # FIFOs and answers here too
        os.chmod(self.dir, 0o1777)
        cleanups.append(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.env = {"LD_PRELOAD": PROBE, "HG_MI_DIR": self.dir}

    def wrap(self, argv):
        """argv, run with the probe by env (for a program started through
        a wrapper that must not have it)."""
        return ["env", *(f"{k}={v}" for k, v in self.env.items()), *argv]

    def ask(self, pid, timeout=60):
        """The ten fields of mallinfo2(), as process pid's glibc gives them."""
        req, out = f"{self.dir}/{pid}.req", f"{self.dir}/{pid}.out"
        try:
            os.unlink(out)
        except FileNotFoundError:
            pass
        end = time.time() + timeout
        while True:
            try:
                # non-blocking: ENXIO while the probe is not waiting on it
                fd = os.open(req, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ENXIO):
                    raise
                check(time.time() < end, f"pid {pid}: its mallinfo probe does not listen "
                      f"on {req} (not preloaded? dead?)")
                time.sleep(0.05)
        os.write(fd, b"?\n")
        os.close(fd)
        while not os.path.exists(out):
            check(time.time() < end, f"pid {pid}: no answer from its mallinfo probe")
            time.sleep(0.02)
        with open(out) as f:
            a = json.load(f)
        equal(a["pid"], pid, f"the probe's answer in {out}: its pid")
        return {k: a[k] for k in MI_FIELDS}


class Procs:
    """Processes a test started (targets.Target, each leading its own
    session), killed with their process groups at the end whatever
    happens, after the test's own cleanups."""

    def __init__(self):
        self.procs = []
        self.cleanups = []
        self.probe = Probe(self.cleanups)

    def start(self, argv, **kw):
        """A server: no commands, its output to /dev/null; probed (it and
        its children) unless probe=False (a client)."""
        env = self.probe.env if kw.pop("probe", True) else None
        return self.add(targets.Target(argv, ready=None, talk=False, session=True, env=env,
                                       **kw))

    def ready(self, argv, what):
        """A program that prints "ready" once its heap is built."""
        t = self.add(targets.Target(argv, ready="line", session=True, env=self.probe.env))
        check(t.state.strip() == "ready", f"{what}: first line {t.state!r}, not 'ready'")
        return t

    def add(self, t):
        self.procs.append(t)
        return t

    def close(self):
        for c in self.cleanups:
            try:
                c()
            except Exception:
                pass
        for p in self.procs:
            p.close()


# --------------------------------------------------------------- programs

def test_perl():
    """An interpreter with a big heap: perl's own allocations are glibc's
    (Debian builds perl without its private malloc)."""
    need("perl")
    ps = Procs()
    try:
        code = ('my %h; for my $i (1..300000) { $h{"key$i"} = "v" x (($i % 200) + 1) } '
                'my @a = map { [$_, "x" x 50] } 1..100000; '
                'delete $h{"key$_"} for grep { $_ % 3 == 0 } 1..300000; '
                '$| = 1; print "ready\\n"; sleep 600;')
        p = ps.ready(["perl", "-e", code], "perl")
        s = check_process(p.pid, "perl", ps.probe)
        check(s["totals"]["inuse_objects"] > 500000,
              f"perl: only {s['totals']['inuse_objects']} objects in use")
    finally:
        ps.close()


def test_python():
    """An interpreter with a big heap: CPython (objects above 512 bytes and
    every list body come from malloc; threads make arenas)."""
    need("python3")
    ps = Procs()
    try:
        code = ("import threading, time, sys\n"
                "keep = [bytes(600 + i % 4000) for i in range(60000)]\n"
                "d = {i: list(range(i % 50)) for i in range(100000)}\n"
                "def work(n):\n"
                "    global keep\n"
                "    mine = [bytearray(700 + j % 3000) for j in range(5000)]\n"
                "    keep += mine[::2]\n"
                "ts = [threading.Thread(target=work, args=(i,)) for i in range(3)]\n"
                "[t.start() for t in ts]; [t.join() for t in ts]\n"
                "del keep[::3]\n"
                "print('ready', flush=True); time.sleep(600)\n")
        p = ps.ready(["python3", "-c", code], "python3")
        s = check_process(p.pid, "python3", ps.probe)
        check(s["totals"]["inuse_bytes"] > 50 << 20,
              f"python3: only {s['totals']['inuse_bytes']} bytes in use")
    finally:
        ps.close()


NGINX_CONF = """
worker_processes 2;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port} reuseport;
    location / {{ root {dir}/www; }}
    location /echo {{ return 200 "$request_uri$http_user_agent\\n"; }}
  }}
}}
"""


def test_nginx():
    """A prefork server's workers after traffic: each worker is a forked
    child whose heap grew after fork (a second [heap] mapping next to the
    one it inherited)."""
    need("/usr/sbin/nginx")
    ps = Procs()
    d = tempfile.mkdtemp(prefix="hg-nginx-")
    ps.cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    try:
        port = free_port()
        os.makedirs(f"{d}/www")
        for i in range(50):
            with open(f"{d}/www/f{i}.html", "w") as f:
                f.write("x" * (100 * i + 1))
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(dir=d, port=port))
        master = ps.start(["/usr/sbin/nginx", "-c", f"{d}/nginx.conf", "-p", d])
        wait_port(port)
        workers = wait_for(lambda: len(children(master.pid)) == 2 and children(master.pid),
                           "two nginx workers")
        # traffic: many connections kept open at once make the workers
        # allocate, then close
        for round_ in range(3):
            socks = []
            for i in range(300):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(f"GET /f{i % 50}.html HTTP/1.1\r\nHost: x\r\n"
                          f"User-Agent: {'u' * (i * 7 % 3000)}\r\n\r\n".encode())
                socks.append(s)
            for s in socks:
                s.recv(65536)
                s.close()
        time.sleep(0.5)
        grown = 0
        for w in workers:
            s = check_process(w, "nginx worker", ps.probe)
            with open(f"/proc/{w}/maps") as f:
                heaps = [l for l in f if l.rstrip().endswith("[heap]")]
            grown += len(heaps) > 1
        check(grown > 0, "no nginx worker's heap grew after fork: the test tests nothing")
        check_process(master.pid, "nginx master", ps.probe)
        # and they still serve, after GDB and heapgrab stopped them
        for i in range(8):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /echo?after HTTP/1.0\r\nUser-Agent: z\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            s.close()
            check(reply.startswith(b"HTTP/1.1 200") and b"/echo?afterz" in reply,
                  f"nginx after the checks: {reply[:200]!r}")
        for w in workers:
            untraced_and_running(w)
    finally:
        ps.close()


def test_postgres():
    """A PostgreSQL backend after a query: a child forked per connection,
    whose heap grows after the fork."""
    bindir = "/usr/lib/postgresql"
    versions = sorted(os.listdir(bindir)) if os.path.isdir(bindir) else []
    need(*(["/usr/lib/postgresql/VERSION/bin/postgres"] if not versions else []))
    bindir = os.path.join(bindir, versions[-1], "bin")
    ps = Procs()
    d = tempfile.mkdtemp(prefix="hg-pg-")
    ps.cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    try:
        as_postgres = []
        if os.getuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(d, pw.pw_uid, pw.pw_gid)
            as_postgres = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                           "--clear-groups"]
        r = subprocess.run([*as_postgres, f"{bindir}/initdb", "-D", f"{d}/data", "-A", "trust",
                            "-U", "postgres"], capture_output=True, timeout=120)
        check(r.returncode == 0, f"initdb: {r.stderr.decode(errors='replace')[-400:]}")
        port = free_port()
        # the probe goes in after setpriv: a second thread in setpriv
        # would not have the capabilities (a thread's own) that let it
        # change group after user, and glibc aborts
        server = ps.start([*as_postgres, *ps.probe.wrap([
                              f"{bindir}/postgres", "-D", f"{d}/data", "-p", str(port), "-k", d,
                              "-c", "listen_addresses=", "-c", "shared_buffers=16MB"])],
                          probe=False)
        wait_for(lambda: os.path.exists(f"{d}/.s.PGSQL.{port}"), "postgres' socket", 60)
        before = set(children(server.pid))
        sql = ("create temp table t as select g, md5(g::text) s from generate_series(1, 200000) g;"
               "select count(*), max(s) from t group by g % 1000 order by 1 limit 1;"
               "select pg_sleep(600);")
        ps.start(["psql", "-h", d, "-p", str(port), "-U", "postgres", "-X", "-q", "-c", sql],
                 probe=False)

        def backend():
            for c in set(children(server.pid)) - before:
                try:
                    with open(f"/proc/{c}/wchan") as f:
                        wchan = f.read()
                    with open(f"/proc/{c}/cmdline") as f:
                        cmd = f.read()
                except OSError:
                    continue
                # the backend is asleep in pg_sleep once the query is done
                if "[local]" in cmd and "SELECT" in cmd and wchan in ("do_epoll_wait",
                                                                      "do_select", "ep_poll"):
                    return c
            return None
        b = wait_for(backend, "the PostgreSQL backend to reach pg_sleep", 120)
        time.sleep(0.3)
        check_process(b, "postgres backend", ps.probe)
    finally:
        ps.close()


def test_memcached():
    """A multithreaded server after traffic: memcached with four worker
    threads, each with its own arena, items of many sizes."""
    need("memcached")
    ps = Procs()
    try:
        port = free_port()
        user = ["-u", "nobody"] if os.getuid() == 0 else []
        p = ps.start(["memcached", *user, "-t", "4", "-m", "64", "-p", str(port), "-U", "0",
                      "-l", "127.0.0.1", "-c", "1024"])
        wait_port(port)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        for i in range(20000):
            s = conns[i % len(conns)]
            v = b"v" * (50 + i * 37 % 5000)
            s.sendall(b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(v), v))
            check(s.recv(100).startswith(b"STORED"), "memcached set")
        for i in range(0, 20000, 7):
            s = conns[i % len(conns)]
            s.sendall(b"delete k%d\r\n" % i)
            s.recv(100)
        for s in conns:
            s.close()
        time.sleep(0.3)
        st = check_process(p.pid, "memcached", ps.probe)
        check(len(st["arenas"]) >= 3, f"memcached: {len(st['arenas'])} arenas")
        # and it still serves, after GDB and heapgrab stopped it
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"get k1\r\n")
        reply = b""
        while not reply.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            check(chunk, f"memcached after the checks: {reply[:100]!r}")
            reply += chunk
        s.close()
        check(reply.startswith(b"VALUE k1 0 87\r\n"),
              f"memcached after the checks: {reply[:100]!r}")
    finally:
        ps.close()


TESTS = {"perl": test_perl, "python": test_python, "nginx": test_nginx,
         "postgres": test_postgres, "memcached": test_memcached}


def main():
    check(HEAPGRAB, "HEAPGRAB must name the heapgrab binary")
    names = sys.argv[1:] or list(TESTS)
    return run("realworld " + " ".join(names), [TESTS[n] for n in names])


if __name__ == "__main__":
    sys.exit(main())
