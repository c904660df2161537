"""The exec guard: a process that traces the approved command's whole tree.

agentsh forks the guard; the guard forks the command (bash), which asks to be
traced, confines itself (Landlock, seccomp), stops, and execs.  From then on the
kernel stops every process of the tree at each fork, clone and exec, and the guard
decides each exec (execcheck.py) before the new program runs one instruction.  A
refused exec is killed there.  PTRACE_O_EXITKILL means that if the guard itself
dies, every process it traces dies too: nothing goes on unguarded.

The guard tells agentsh what happened over a pipe, one JSON object per line:
`{"kind": "exec_denied", ...}`, `{"kind": "ended", ...}` and, when the line's bash
ends, `{"kind": "exit", "status": WAIT_STATUS}`.  What the command left running is
killed then, unless the rule that allowed it says `background: true`; those go on
being traced after agentsh has its status.
"""

from __future__ import annotations

import errno
import json
import os
import resource  # here, not in the forked guard: it is on every line's path
import shlex
import signal
from typing import Any

from . import ptrace
from .execcheck import LINE, ExecChecker, ExecVerdict, Lineage
from .metadata import MetadataGuard, Refusal

# What the guard must survive: these reach the whole process group (Ctrl-C, agentsh
# forwarding a signal), and are meant for the command, not for its guard.
IGNORED_BY_GUARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP,
                    signal.SIGTTIN, signal.SIGTTOU, signal.SIGPIPE)
PR_SET_CHILD_SUBREAPER = 36
DECISION_SECONDS = 5.0  # parsing and deciding one exec takes well under a millisecond
SAID_METADATA_REFUSALS = 20  # a `chmod -R` over $HOME is refused file by file: say the first ones


class DecisionTimeout(Exception):
    def __str__(self) -> str:
        return f"deciding took longer than {DECISION_SECONDS:g} s"


def _decision_timed_out(_signum: int, _frame: object) -> None:
    raise DecisionTimeout


class Tracer:
    def __init__(self, checker: ExecChecker, report_fd: int, message_fd: int = 2) -> None:
        self.checker = checker
        self.report_fd = report_fd
        self.message_fd = message_fd
        self.lineage: dict[int, Lineage] = {}
        self.held: dict[int, int] = {}  # new tracees stopped before their parent's fork event: pid -> signal
        self.started: set[int] = set()  # tracees past their first stop
        self.top = 0
        self.top_exec_seen = False
        self.over = False  # the line's bash has ended: what is not background must end too
        self.root = _key("/")
        self.metadata: MetadataGuard | None = None  # made at the first metadata call: most lines make none
        self.metadata_refusals = 0

    # -- reporting -----------------------------------------------------------------
    def report(self, kind: str, **fields: Any) -> None:
        data = (json.dumps({"kind": kind, **fields}, default=str) + "\n").encode()
        try:
            os.write(self.report_fd, data)
        except OSError:
            pass  # agentsh is gone; the guard goes on guarding

    def say(self, text: str) -> None:
        try:
            os.write(self.message_fd, text.encode("utf-8", "replace"))
        except OSError:
            pass

    # -- the loop --------------------------------------------------------------------
    def run(self, top: int) -> int:
        """Trace `top` (stopped by its own SIGSTOP after PTRACE_TRACEME) and its tree;
        return top's wait status."""
        self.top = top
        _, status = os.waitpid(top, ptrace.WALL | os.WUNTRACED)  # its own SIGSTOP, or its early end
        if not os.WIFSTOPPED(status):
            self.report("exit", status=status)
            return status
        try:
            ptrace.set_options(top)
        except OSError:  # it could not be traced (it said why); it runs unguarded, as it was allowed to
            os.kill(top, signal.SIGCONT)
            status = os.waitpid(top, 0)[1]
            self.report("exit", status=status)
            return status
        self.lineage[top] = LINE
        self.started.add(top)
        ptrace.cont(top)
        top_status: int | None = None
        while self.lineage or self.held:
            try:
                pid, status = os.waitpid(-1, ptrace.WALL)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self.lineage.pop(pid, None)
                self.held.pop(pid, None)
                self.started.discard(pid)
                if pid == top:
                    top_status = status
                    self.over = True
                    self.report("exit", status=status)
                    self._end_leftovers()
                continue
            if os.WIFSTOPPED(status):
                self._stopped(pid, status)
        if top_status is None:  # it vanished without a word: report it as killed
            top_status = int(signal.SIGKILL)
            self.report("exit", status=top_status)
        return top_status

    def _stopped(self, pid: int, status: int) -> None:
        sig = os.WSTOPSIG(status)
        event = status >> 16
        if sig == signal.SIGTRAP and event:
            if event in ptrace.NEW_PROCESS_EVENTS:
                self._new_process(pid)
            elif event == ptrace.EVENT_EXEC:
                self._exec(pid)
                return
            elif event == ptrace.EVENT_SECCOMP:
                self._metadata_call(pid)
                return
            ptrace.cont(pid)
            return
        if pid not in self.lineage and pid not in self.held and pid not in self.started:
            # A new tracee's first stop, seen before its parent's fork event: hold it
            # until we know what it descends from.
            self.held[pid] = sig
            if self.over:
                self._end_if_over(pid, self._parent_lineage(pid))
            return
        if pid not in self.started:
            self.started.add(pid)
            if sig == signal.SIGSTOP:
                ptrace.cont(pid)  # the stop every auto-attached child starts with
                return
        if ptrace.is_signal_delivery(pid):
            ptrace.cont(pid, sig)  # pass the signal on, as if nobody were tracing
        else:
            ptrace.cont(pid)  # a group-stop: job control is not kept under the guard

    def _new_process(self, parent: int) -> None:
        try:
            child = ptrace.event_message(parent)
        except OSError:
            return
        self.lineage[child] = self.lineage.get(parent, LINE)
        if self._end_if_over(child, self.lineage[child]):
            return
        if child in self.held:
            sig = self.held.pop(child)
            self.started.add(child)
            ptrace.cont(child, 0 if sig == signal.SIGSTOP else sig)

    def _exec(self, pid: int) -> None:
        try:
            former = ptrace.event_message(pid)  # a thread that exec'd takes the leader's pid
        except OSError:
            former = pid
        lineage = self.lineage.get(pid) or self.lineage.get(former) or LINE
        if former != pid:
            self.lineage.pop(former, None)
        if pid == self.top and not self.top_exec_seen:
            self.top_exec_seen = True  # the line's own bash, started by agentsh
            ptrace.cont(pid)
            return
        signal.setitimer(signal.ITIMER_REAL, DECISION_SECONDS)  # a decision that hangs refuses, never blocks
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            info = os.stat(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
            cwd = os.readlink(f"/proc/{pid}/cwd")
            argv = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]] if raw else []
            if _key(f"/proc/{pid}/root") != self.root:
                # The guard reads scripts and decides paths from its own root: under chroot()
                # (root may; anyone may inside a user namespace) the interpreter would read
                # another file, under the very name that was decided, than the guard read.
                verdict = ExecVerdict(False, "it runs under another root directory (chroot): the guard "
                                      "cannot read the files it names", "", lineage, shlex.join(argv)[:500])
            else:
                verdict = self.checker.check(exe, (info.st_dev, info.st_ino), argv, cwd, lineage)
        except Exception as err:  # anything we cannot read or decide in time is refused
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._refuse(pid, f"/proc/{pid}", f"cannot check it: {err or type(err).__name__}", "")
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        if verdict.allowed:
            self.lineage[pid] = verdict.lineage
            ptrace.cont(pid)
            return
        self._refuse(pid, verdict.shown, verdict.reason, verdict.rule, exe=exe)

    def _metadata_call(self, pid: int) -> None:
        """A chmod, chown, utime or xattr call, stopped before it runs (metadata.py decides,
        and makes a chmod, chown, utime or xattr change itself: the call is then skipped with its result)."""
        signal.setitimer(signal.ITIMER_REAL, DECISION_SECONDS)
        try:
            if self.metadata is None:
                self.metadata = MetadataGuard(self.checker.policy.profile)
            refusal = self.metadata.check(pid)
        except Exception as err:  # anything we cannot read or decide in time is refused
            refusal = Refusal(errno.EPERM, "", f"cannot check it: {err or type(err).__name__}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if refusal is not None:
            try:
                ptrace.skip_call(pid, refusal.errno)
            except OSError:  # it cannot be made to fail: it must not run either
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            # An errno other than EPERM is the kernel's own answer (no such file, a bad
            # descriptor): nothing was refused that the call could have done.
            if isinstance(refusal, Refusal) and refusal.errno == errno.EPERM:
                self._say_metadata_refusal(pid, refusal)
        ptrace.cont(pid)

    def _say_metadata_refusal(self, pid: int, refusal: Refusal) -> None:
        self.metadata_refusals += 1
        if self.metadata_refusals > SAID_METADATA_REFUSALS:
            return
        target = self.checker.mask(refusal.target)
        self.say(f"agentsh: denied changing the mode, owner, times or attributes of {target or '?'}: "
                 f"{refusal.reason}\n")
        self.report("metadata_denied", pid=pid, target=target, reason=refusal.reason)

    def _refuse(self, pid: int, shown: str, reason: str, rule: str, exe: str = "") -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        ptrace.cont(pid)
        self.lineage.pop(pid, None)
        self.say(f"agentsh: denied at exec: {shown}: {reason} (rule {rule or 'default-deny'})\n")
        self.report("exec_denied", pid=pid, command=shown, exe=exe, reason=reason, rule=rule)

    def _parent_lineage(self, pid: int) -> Lineage:
        """The lineage of a held process's parent (its fork event not seen yet)."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return LINE
        return self.lineage.get(ppid, LINE)

    def _end_if_over(self, pid: int, lineage: Lineage) -> bool:
        """After the line ended, a new process of a non-background lineage is killed at once:
        its parent was killed mid-fork, or forked after the leftovers were ended."""
        if not self.over or lineage.background:
            return False
        self.held.pop(pid, None)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return True

    def _end_leftovers(self) -> None:
        """The line is over: what it started and left running ends too, unless allowed.
        Held processes (whose parent's fork event has not come, and may never come if the
        parent is killed now) go with their parent's lineage: left stopped, they kept the
        line's output open and agentsh waited for ever."""
        for pid in list(self.held):
            self._end_if_over(pid, self._parent_lineage(pid))
        ended = []
        for pid, lineage in list(self.lineage.items()):
            if lineage.background:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode("utf-8", "surrogateescape")
                # masked before the cut: the first 200 characters could end inside a credential
                ended.append(self.checker.mask(command).encode("utf-8", "replace").decode("utf-8", "replace")
                             .strip()[:200])
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if ended:
            self.report("ended", commands=ended)


def _key(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return (info.st_dev, info.st_ino)


def guard_process(checker: ExecChecker, top: int, report_fd: int) -> None:
    """The body of the guard process (never returns): trace, then exit as the command did."""
    status = 0x7F00 | signal.SIGKILL  # unused if run() returns
    try:
        ptrace.libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of the tree come to us
        signal.signal(signal.SIGALRM, _decision_timed_out)
        status = Tracer(checker, report_fd).run(top)
    except BaseException as err:  # the guard failing must never let the tree run on
        try:
            os.write(2, f"agentsh: exec guard failed: {err}\n".encode())
            os.kill(top, signal.SIGKILL)
        finally:
            os._exit(126)
    # The line's output pipes reach end-of-file when the last holder closes them: close
    # ours now rather than in the kernel's teardown of this process (~1 ms), which agentsh
    # would otherwise wait for before it ends the line.
    os.closerange(0, 3)
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        os._exit(code)
    try:  # die of the same signal, so agentsh sees what bash's own parent would have seen
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if -code not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    finally:
        os._exit(128 - code)
