"""The one way the tests start and talk to a target program.

A ground-truth target (tests/targets/) prints one line when it is ready --
a JSON object for gt_target, core_target, corrupt_target and stack_target
(its pid and what it holds), a bare word or number for others -- and then
answers commands on stdin, one line each.  Target starts one, waits for that
line, and gives its pid and what it said; cmd() sends a command and reads
the JSON answer, ask() a plain one.

Whatever happens, the process is killed and reaped: close() (or leaving a
`with` block) ends it, and any target a test forgot is ended when the test
script exits, so no run leaves a stopped or traced process behind.
"""
import atexit
import fcntl
import json
import os
import resource
import signal
import subprocess

from harness import TARGET_ROOT, Failure, Skip

SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "targets")
# where, inside HG_TARGET_ROOT, the targets are built (test_versions.py
# uses /tmp/gt_target itself: both may run at once)
ROOT_DIR = "/tmp/hg-live-targets"

# Every target started and not yet reaped, for the exit handler.
_LIVE = set()


def _unlimited_cores():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def in_root():
    """The live targets run inside HG_TARGET_ROOT (on its glibc)."""
    return TARGET_ROOT is not None


def not_in_root(what):
    """Skip a test (or the caller's part) that cannot run with the targets
    in HG_TARGET_ROOT."""
    if TARGET_ROOT:
        raise Skip(f"not with HG_TARGET_ROOT ({TARGET_ROOT}): {what}")


def root_build(name, source=None, flags=("-O1", "-g", "-pthread")):
    """With HG_TARGET_ROOT: tests/targets/NAME.c (or source) built inside the
    root by its gcc, once per root and source (rebuilt when the source is
    newer); the program's path as the host sees it.  Several test scripts
    may build at once: a lock on the root's build directory orders them."""
    source = source or os.path.join(SOURCES, name + ".c")
    host_dir = TARGET_ROOT + ROOT_DIR
    os.makedirs(host_dir, exist_ok=True)
    exe = os.path.join(host_dir, name)
    with open(os.path.join(host_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(source):
            src = os.path.join(host_dir, name + ".c")
            with open(source, "rb") as f, open(src, "wb") as out:
                out.write(f.read())
            r = subprocess.run(["chroot", TARGET_ROOT, "gcc", *flags, "-o",
                                f"{ROOT_DIR}/{name}.tmp", f"{ROOT_DIR}/{name}.c"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise Failure(f"{name}: build in {TARGET_ROOT} failed: {r.stderr.strip()}")
            os.replace(exe + ".tmp", exe)
    return exe


def root_argv(host_path):
    """The command that runs a program built by root_build: chroot execs it,
    so the pid it prints is the one we started."""
    return ["chroot", TARGET_ROOT, host_path[len(TARGET_ROOT):]]


class Target:
    """A target process under the test's control.

    argv       the command (a path, or a wrapper such as unshare or chroot
               that execs the target: then its pid comes from its line)
    ready      how to read its first line: "json" (the default; .state is
               the object), "line" (.state is the line as text), or None
               (nothing is read)
    cwd, env   its working directory; variables added to the environment
    cores      unlimited core size, for the kernel cores tests ask for
    same_pid   the pid the target prints must be the one we started (false
               for wrappers that fork)
    talk       stdin and stdout are pipes to the test; False for a program
               that takes no commands and whose output nobody reads (a
               server): both are /dev/null, and ready must be None
    session    the target leads a session of its own, and close() kills
               its whole process group (a server's workers, a client's
               children)
    """

    def __init__(self, argv, ready="json", cwd=None, env=None, cores=False, same_pid=True,
                 talk=True, session=False):
        if isinstance(argv, str):
            argv = [argv]
        self.argv = list(argv)
        self.session = session
        pipe = subprocess.PIPE if talk else subprocess.DEVNULL
        self.p = subprocess.Popen(self.argv, stdin=pipe, stdout=pipe,
                                  stderr=None if talk else subprocess.DEVNULL,
                                  cwd=cwd, env=dict(os.environ, **env) if env else None,
                                  preexec_fn=_unlimited_cores if cores else None,
                                  start_new_session=session)
        _LIVE.add(self)
        # the process started: the target itself, or a wrapper that forked
        # it (then .pid, from its line, may even be a pid in another
        # namespace)
        self.started_pid = self.p.pid
        self.pid = self.p.pid
        self.state = None
        try:
            if ready == "json":
                self.state = self.answer()
                if "pid" in self.state:
                    if same_pid and self.state["pid"] != self.p.pid:
                        raise Failure(f"{self.argv[0]}: says it is pid {self.state['pid']}, "
                                      f"started as {self.p.pid}")
                    self.pid = self.state["pid"]
            elif ready == "line":
                self.state = self.line()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------- talking

    def line(self, eof_ok=False):
        """The target's next line, as text; a Failure if it ends first
        (None with eof_ok: the test looks at how it ended).  A hang is
        ctest's TIMEOUT to catch: a select() here would miss a line
        already in the reader's buffer."""
        raw = self.p.stdout.readline()
        if not raw and eof_ok:
            return None
        if not raw:
            raise Failure(f"{self.argv[0]} (pid {self.pid}) ended without an answer "
                          f"(exit {self.p.poll()})")
        return raw.decode(errors="replace").rstrip("\n")

    def answer(self):
        """The target's next line, a JSON object."""
        return json.loads(self.line())

    def _write(self, command):
        self.p.stdin.write(command.encode() + b"\n")
        self.p.stdin.flush()

    def send(self, command):
        """Send a command and read nothing back (its answer, if any, is
        the test's to read)."""
        self._write(command)

    def cmd(self, command):
        """Send a command, read its JSON answer; .state is the answer."""
        self._write(command)
        self.state = self.answer()
        return self.state

    def ask(self, command):
        """Send a command, return its one-line plain answer."""
        self._write(command)
        return self.line().strip()

    # ------------------------------------------------------------- checks

    def left_alone(self, after="heapgrab", allow_gone_threads=True):
        """After heapgrab: nobody traces the target and none of its threads
        is left stopped (nor a zombie)."""
        untraced_and_running(self.pid, after, allow_gone_threads)

    def alive(self):
        return self.p.poll() is None

    # ------------------------------------------------------------- ending

    def signal(self, sig):
        os.kill(self.pid, sig)

    def abort_and_wait(self, seconds=60):
        """SIGABRT (the kernel dumps a core where the target allows it);
        returns its exit status."""
        os.kill(self.pid, signal.SIGABRT)
        return self.wait(seconds)

    def wait(self, seconds=60):
        try:
            return self.p.wait(timeout=seconds)
        finally:
            if self.p.poll() is not None:
                _LIVE.discard(self)

    def close(self, gently=False):
        """End the target and reap it.  gently: close its stdin first and
        give it five seconds to leave on its own (a target that tidies up)."""
        if gently and self.p.poll() is None and self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.session:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)   # and whatever it started
            except OSError:
                pass
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        for f in (self.p.stdin, self.p.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        _LIVE.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def untraced_and_running(pid, after="heapgrab", allow_gone_threads=True):
    """No tracer on the process or any of its threads, and no thread
    stopped, traced or dead."""
    def tracer_in(path):
        with open(path) as f:
            return [x for x in f if x.startswith("TracerPid:")][0].split()[1]

    tracer = tracer_in(f"/proc/{pid}/status")
    if tracer != "0":
        raise Failure(f"target {pid}: TracerPid {tracer} after {after} (expected 0)")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            tracer = tracer_in(f"/proc/{pid}/task/{tid}/status")
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            if allow_gone_threads:
                continue  # a short-lived thread that has ended
            raise
        if tracer != "0":
            raise Failure(f"target {pid}: thread {tid} traced by {tracer} after {after}")
        if st in ("t", "T", "Z", "X"):
            raise Failure(f"target {pid}: thread {tid} left in state {st} after {after}")


@atexit.register
def _end_all():
    for t in list(_LIVE):
        try:
            t.close()
        except Exception:  # noqa: BLE001 - ending the rest matters more
            pass
