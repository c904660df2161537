"""Output stream stage: relay a running command's output to the agent and to the sinks.

Everything the agent sees passes through here once, so the recorder (and, later,
the credential redactor) see exactly the same bytes.  Two shapes:

- pipes: the command's stdout and stderr stay separate, as with `bash -c`;
- a PTY: for terminals, with the agent's keystrokes relayed in and the window
  size followed.

Nothing is done per byte in Python: this path carries whole builds' worth of output.
Pipes are read 64 KiB at a time; a PTY's reads are passed on one by one (PtyRelay._forward).
"""

from __future__ import annotations

import errno
import os
import select
from collections.abc import Callable
from typing import Protocol

CHUNK = 65536
Sink = Callable[[bytes], None]


class Filter(Protocol):
    """A streaming transformation of output (the credential redactor)."""

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


def write_all(fd: int, data: bytes) -> bool:
    """Write everything; False if the reader has gone away (EPIPE)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        except BrokenPipeError:
            return False
        view = view[written:]
    return True


def relay_pipes(sources: dict[int, int], sink: Sink, filters: dict[int, Filter] | None = None,
                on_idle: Callable[[], None] | None = None) -> None:
    """Copy each pipe (read fd -> our output fd) until all reach EOF.

    Each pipe's bytes pass through its filter (if any) before the sink and the agent
    see them.  When the agent stops reading one of our outputs, that pipe is closed
    too, so the command gets SIGPIPE on its next write, as it would under `bash -c`.
    """
    filters = filters or {}
    open_fds = dict(sources)
    while open_fds:
        try:
            ready, _, _ = select.select(list(open_fds), [], [], 0.05 if on_idle else None)
        except InterruptedError:
            continue
        if not ready and on_idle is not None:
            on_idle()  # output paused: let the recorder write what it holds
            continue
        for fd in ready:
            try:
                data = os.read(fd, CHUNK)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                tail = filters[fd].flush() if fd in filters else b""
                if tail:
                    sink(tail)
                    write_all(open_fds[fd], tail)
                os.close(fd)
                del open_fds[fd]
                continue
            if fd in filters:
                data = filters[fd].feed(data)
                if not data:
                    continue
            sink(data)
            if not write_all(open_fds[fd], data):
                os.close(fd)
                del open_fds[fd]


class PtyRelay:
    """Relay between the agent's terminal (or pipes) and a command's PTY."""

    def __init__(self, master_fd: int, sink: Sink, stdin_fd: int = 0, stdout_fd: int = 1,
                 on_input: Sink | None = None, on_resize: Callable[[], None] | None = None,
                 output_filter: Filter | None = None, on_idle: Callable[[], None] | None = None) -> None:
        self.on_idle = on_idle
        self.master_fd = master_fd
        self.sink = sink
        self.output_filter = output_filter
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self.on_input = on_input
        self.on_resize = on_resize
        # Set by the owner's SIGWINCH handler, which it installs before spawning the
        # command so that no resize is lost in between.
        self.resized = False

    def note_resize(self, _signum: int, _frame: object) -> None:
        self.resized = True

    def run(self, child_done: Callable[[], bool]) -> None:
        """Relay until the command has exited and its output is drained."""
        # Non-blocking reads of the PTY: what it holds is read without a select() per read.
        was_blocking = os.get_blocking(self.master_fd)
        os.set_blocking(self.master_fd, False)
        try:
            self._relay(child_done)
        finally:
            try:
                os.set_blocking(self.master_fd, was_blocking)
            except OSError:
                pass

    def _relay(self, child_done: Callable[[], bool]) -> None:
        reading_stdin = self.stdin_fd >= 0
        while True:
            if self.resized and self.on_resize is not None:
                self.resized = False
                self.on_resize()
            fds = [self.master_fd, self.stdin_fd] if reading_stdin else [self.master_fd]
            try:
                ready, _, _ = select.select(fds, [], [], 0.05)
            except InterruptedError:
                continue
            if self.master_fd in ready:
                if self._forward() is None:
                    return
            elif not ready:
                if self.on_idle is not None:
                    self.on_idle()  # output paused: let the recorder write what it holds
                if child_done():
                    self._drain()
                    return
            if reading_stdin and self.stdin_fd in ready:
                data = os.read(self.stdin_fd, CHUNK)
                if not data:
                    reading_stdin = False
                    continue
                write_all(self.master_fd, data)
                # After the write: the owner resumes a stopped command on Ctrl-C (ptyrun), and
                # its SIGINT, made from the byte by the PTY, should be pending by then, not
                # land after the command has run on (bash, resumed, may fork its next program
                # first and then wait out a child the SIGINT never reached).
                if self.on_input is not None:
                    self.on_input(data)

    def _forward(self) -> int | None:
        """Relay what the PTY holds now, each read as soon as it is read; return the bytes
        relayed, or None once the PTY has ended (then the filter's tail is relayed too).

        Each read (at most 4 KiB: the PTY's line discipline hands over no more) goes to the
        agent at once.  Joining reads into larger writes looked cheaper but made agentsh a
        store-and-forward stage: the command's PTY holds only ~18 KiB, so it stalled while
        agentsh wrote 64 KiB to the agent's terminal, which holds no more.  Forwarding each
        read keeps both moving (0.62 of script's throughput became ~0.9; bench/README.md).
        The recorder still joins reads into ~64 KiB events.  After CHUNK bytes the caller's
        select() runs again, so a command that never stops printing cannot starve the
        agent's keystrokes (Ctrl-C) or a resize."""
        relayed = 0
        while relayed < CHUNK:
            try:
                data = os.read(self.master_fd, CHUNK)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as err:  # EIO: the last holder of the PTY slave closed it
                if err.errno != errno.EIO:
                    raise
                data = b""
            if not data:
                self._emit(b"", final=True)
                return None
            self._emit(data)
            relayed += len(data)
        return relayed

    def _emit(self, data: bytes, final: bool = False) -> None:
        if self.output_filter is not None:
            data = self.output_filter.feed(data) if data else b""
            if final:
                data += self.output_filter.flush()
        if data:
            self.sink(data)
            write_all(self.stdout_fd, data)

    def _drain(self) -> None:
        """The command has exited: relay what its PTY still holds."""
        while True:
            relayed = self._forward()
            if relayed is None:
                return
            if not relayed:  # nothing more, though a leftover process still holds the PTY
                self._emit(b"", final=True)
                return
