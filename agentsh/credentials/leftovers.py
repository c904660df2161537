"""End what a line left running with its credentials, also when agentsh itself is killed.

Small and with no imports beyond the standard library's basics: the watcher, a process of
its own started with each line's broker, imports this module alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys

# Added, with this line's random marker, to the environment of a credentialed program whose
# rule does not say `background: true`: whatever still has it when the line is over is ended.
LEFTOVER_ENV = "AGENTSH_CREDENTIALED_LINE"
DONE = b"done"  # what agentsh writes to the watcher when it ended the line itself

# The watcher's command line after the interpreter: -I -S (no environment, no site: it runs
# only this module, found under the directory given), then directory, marker.
WATCHER = ("-IS", "-c", "import sys; sys.path[:0] = sys.argv[1:2]; "
           "from agentsh.credentials.leftovers import watch; watch(*sys.argv[2:])")


def alive(pidfd: int) -> bool:
    try:
        signal.pidfd_send_signal(pidfd, 0)
    except OSError:
        return False
    return True


def end_holders(variable: str, marker: str, helpers: str) -> int:
    """SIGKILL every process (that this user may read) whose environment holds
    variable=marker, or that is one of the line's exec helpers (its script under `helpers`,
    a helper that got its answer and has not exec'd the program yet); return how many.

    Each match is read again through a pidfd taken after the first read, and signalled
    through it: a PID that went to another process in between is not touched.  Passes are
    repeated until two in a row find nothing new: children forked during a pass, and a
    helper whose exec fell between the two reads of a pass, are found by the next."""
    entry = f"\0{variable}={marker}\0".encode()
    prefix = os.fsencode(helpers)
    ended: dict[int, int] = {}  # PID -> pidfd of the process signalled

    def holds(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if entry in b"\0" + handle.read():
                    return True
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            return len(argv) > 2 and argv[1] == b"-IS" and argv[2].startswith(prefix)
        except OSError:  # gone, another user's, a kernel thread
            return False

    try:
        quiet = 0
        for _ in range(32):
            found = False
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) == os.getpid():
                    continue
                pid = int(name)
                if (pid in ended and alive(ended[pid])) or not holds(pid):
                    continue
                try:
                    pidfd = os.pidfd_open(pid)
                except OSError:
                    continue
                try:
                    if not holds(pid):  # read again: is the pidfd's process the one read?
                        raise ProcessLookupError
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except OSError:
                    os.close(pidfd)
                    continue
                if pid in ended:
                    os.close(ended[pid])
                ended[pid] = pidfd
                found = True
            quiet = 0 if found else quiet + 1
            if quiet == 2:
                break
    finally:
        for fd in ended.values():
            os.close(fd)
    return len(ended)


def watch(directory: str, marker: str) -> None:
    """The watcher's body: wait on stdin, a pipe only agentsh holds.  End-of-file with no
    DONE before it is agentsh's end without its own clean-up (SIGKILL, a crash): then end
    what still holds the line's credentials and remove the line's directory.  Before, a
    killed agentsh (a harness's timeout kills it) left the credentialed program and its
    daemons running with the secret in their environments, for later lines to read."""
    if sys.stdin.buffer.read() == DONE:
        return
    end_holders(LEFTOVER_ENV, marker, os.path.join(directory, "bin", ""))
    shutil.rmtree(directory, ignore_errors=True)
