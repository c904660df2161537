"""A session's recording: opened on first use, and what happens when it cannot be written.

A recording that cannot be written refuses the next line when the profile says
`record.required` (the default), and is a one-time warning otherwise.  The profile is
read at each call: a live reload may change `record.required` and `record.input`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..profile import Profile
    from .asciicast import Recorder


class SessionRecording:
    def __init__(self, profile: Callable[[], Profile], environ: Mapping[str, str], session_id: str,
                 user: str, command: str, stderr: TextIO) -> None:
        self._profile = profile
        self._environ = environ
        self._session_id = session_id
        self._user = user
        self._command = command
        self._stderr = stderr
        self._recorder: Recorder | None = None
        self._error = ""
        self._warned = False
        self._size: tuple[int, int] | None = None  # (rows, cols) last seen, for "r" events

    def recorder(self) -> Recorder | None:
        """The recording, opened on first use; None if it cannot be written."""
        if self._recorder is not None or self._error:
            return self._recorder
        from ..terminal import terminal_size
        from .asciicast import RecordingError, default_directory, open_recording

        profile = self._profile()
        rows, cols = terminal_size(1)
        try:
            self._recorder = open_recording(
                profile.record_dir or default_directory(self._environ), self._session_id,
                width=cols, height=rows, title=f"agentsh {profile.name} {self._session_id} {self._user}",
                command=self._command,
                env={"SHELL": "agentsh", "TERM": self._environ.get("TERM", "")},
                record_input=profile.record_input)
        except RecordingError as err:
            self._error = str(err)
        return self._recorder

    @property
    def path(self) -> str:
        return getattr(self._recorder, "path", "") if self._recorder is not None else ""

    def problem(self) -> str:
        """Why commands may not run for lack of a recording ('' if they may)."""
        self.recorder()
        if self._error and self._profile().record_required:
            return f"cannot record this session: {self._error} (record.required is true)"
        if self._error and not self._warned:
            self._warned = True
            self._stderr.write(f"agentsh: warning: this session is not recorded: {self._error}\n")
        return ""

    def output(self, data: bytes, *, crlf: bool = False) -> None:
        """What the agent saw; crlf for text written as lines to a terminal in raw mode."""
        # Called for every read of a command's output (4 KiB at a time from a PTY), so the
        # open recording is used directly rather than through _guarded's closure.
        recorder = self._recorder if self._recorder is not None else self.recorder()
        if recorder is not None:
            try:
                recorder.output(data.replace(b"\n", b"\r\n") if crlf else data)
            except Exception as err:  # (RecordingError is imported lazily; _failed re-raises others)
                self._failed(err)

    def flush(self) -> None:
        """Write the output the recorder is holding (it joins bursts into one event)."""
        if self._recorder is not None:
            self._guarded(lambda recorder: recorder.flush())

    def _guarded(self, step: Callable[[Recorder], None]) -> None:
        """A failed write ends the recording; with record.required it is raised to the caller."""
        from .asciicast import RecordingError

        assert self._recorder is not None
        try:
            step(self._recorder)
        except RecordingError as err:
            self._failed(err)

    def _failed(self, err: Exception) -> None:
        """End the recording after a failed write; with record.required, raise it on."""
        from .asciicast import RecordingError

        if not isinstance(err, RecordingError):
            raise err
        self._error = str(err)
        self._recorder = None
        if self._profile().record_required:
            raise err

    def input(self, data: bytes) -> None:
        """What the agent typed, as "i" events, only if the profile asks for it."""
        recorder = self.recorder()
        if recorder is not None and self._profile().record_input:
            recorder.input(data)

    def marker(self, command_id: str) -> bool:
        """The "m" event that starts a command; False if nothing is being recorded."""
        if self._recorder is None:
            return False
        self._recorder.marker(command_id)
        return True

    def follow_resize(self) -> None:
        """Record an "r" event if agentsh's terminal changed size since the last look."""
        from ..terminal import terminal_size

        recorder = self.recorder()
        size = terminal_size(0)
        if recorder is not None and size != self._size:
            if self._size is not None:
                recorder.resize(size[1], size[0])
            self._size = size

    def resized(self, cols: int, rows: int) -> None:
        """The command's terminal was resized to this (told by the PTY relay)."""
        self._size = (rows, cols)
        if self._recorder is not None:
            self._recorder.resize(cols, rows)

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
