"""A forked copy of agentsh that carries a command's PTY output to the agent's terminal
while agentsh itself records it.

Why a second process: a PTY hands over at most 4 KiB per read and holds only ~18 KiB,
so while the relay spends a few hundred microseconds escaping and writing a 64 KiB
recording event, the command fills its PTY and stops.  Everything then runs one step
after the other, and the recording's Python work adds straight to the command's time
(bench/README.md, "Output stream").  The pump does only what `script` does (read the
PTY, write the terminal) plus masking and one pipe write, so the command keeps running
on one CPU while the relay records on the other.

What the agent sees is masked first, exactly as on the relay's own path: the pump is
forked with the relay's redactor, in the state it had reached, and is the only one to
use it from then on.  What goes into the pipe is what went to the terminal, so the
recording still holds exactly the bytes the agent saw.  The relay starts a pump only
once a command's output is large (PUMP_AFTER bytes): forking costs ~1 ms, which a
command with a screenful of output should not pay.

Limits, in docs/recording.md: the recording trails the terminal by at most the pipe's
capacity (PIPE_SIZE); a SIGKILL of agentsh loses that much recorded output, and a
resize or input event is recorded up to that much early relative to the output.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import select
import signal

from .stream import Filter, read_burst, write_all

PUMP_AFTER = 1 << 20  # output of one command, in bytes, before the relay starts a pump
PIPE_SIZE = 1 << 18  # how far the recording may trail what the agent saw (docs/recording.md)
_F_SETPIPE_SZ = 1031  # <linux/fcntl.h>; not in the fcntl module before Python 3.10's Linux constants
_DONE = 0  # the pump's exit status when it relayed everything up to the end or a stop
_CUT = 3  # its exit status when the relay's end of the pipe had gone


class Pump:
    """The forked relay of one command's output: PTY -> (mask) -> terminal and pipe."""

    def __init__(self, master_fd: int, terminal_fd: int, output_filter: Filter | None) -> None:
        records, feed = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only makes the recording follow closer
            fcntl.fcntl(feed, _F_SETPIPE_SZ, PIPE_SIZE)
        stop_r, self._stop_w = os.pipe()  # a byte, or agentsh's death closing it, ends the pump
        self.pid = os.fork()
        if self.pid == 0:  # the pump: nothing here may return into agentsh's code
            status = _CUT
            try:
                os.close(records)
                os.close(self._stop_w)
                gc.disable()  # a collection would write to, and so copy, all of agentsh's memory
                _name_this_process(b"agentsh-pump")
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH):
                    signal.signal(signum, signal.SIG_DFL)  # agentsh forwards these to the command, once
                status = _pump(master_fd, terminal_fd, feed, stop_r, output_filter)
            finally:
                os._exit(status)
        os.close(feed)
        os.close(stop_r)
        self.records = records  # what the agent saw, for the recorder: read it until EOF

    def stop(self) -> None:
        """The command has ended but something still holds its PTY: relay what it holds
        now, then end (as the relay's own drain does)."""
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")

    def kill(self) -> None:
        """End it now (the relay is failing) and reap it."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        self.finish()

    def finish(self) -> bool:
        """Reap the pump; True if it relayed everything (the PTY ended, or it was stopped)."""
        for fd in (self.records, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.records = self._stop_w = -1
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped by the kernel (SIGCHLD ignored): its pipe said it ended
            return True
        return os.waitstatus_to_exitcode(status) == _DONE


def _name_this_process(name: bytes) -> None:
    """So that `ps` and `top` tell the pump from agentsh and its exec guard."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME


def _pump(master: int, terminal: int, feed: int, stop: int, output_filter: Filter | None) -> int:
    """Relay until the PTY ends (EIO) or, after a stop, until it holds nothing more."""
    stopping = False
    while True:
        data, ended = read_burst(master)  # (non-blocking: the relay set it so)
        if not data and not ended:  # nothing waiting
            if stopping:
                ended = True  # stopped, and what the PTY held is relayed
            else:
                try:
                    ready, _, _ = select.select([master, stop], [], [])
                except InterruptedError:
                    continue
                stopping = stop in ready  # a stop byte, or EOF: agentsh has gone
                continue
        if output_filter is not None:
            data = output_filter.feed(data) if data else b""
            if ended:
                data += output_filter.flush()
        if data:
            write_all(terminal, data)  # an agent that stopped reading: as on the relay's path
            if not write_all(feed, data):
                return _CUT  # agentsh has gone
        if ended:
            return _DONE
