"""The full-screen view ends when its terminal goes away (a dropped SSH session).

A hung-up tty sends SIGHUP and SIGCONT and then reads as EOF for ever. Textual 8.2 alone
survives that as an orphan burning a core: its input loop reads on after EOF (Textual pull
request #6690), SIGCONT makes the driver start a second input thread beside the first (one
of the two is never stopped), and a SIGHUP handler that raises SystemExit unwinds from
wherever the main thread is, possibly between starting that thread and the `finally` that
stops it — then the interpreter waits for it at exit, forever.

So, for as long as the view runs (open_feed to feed.close), SIGHUP and SIGTERM only say
"gone" (`TerminalWatch.lost`), and so do EOF or EIO on stdin (`HangupDriver`) and a
controlling tty that stopped being one (polled). Once gone, the app is asked to exit the
normal way (its workers finish, the terminal is restored where it still exists, the feed
is closed), and if the process still lives `grace` seconds later it ends with os._exit.
"""

from __future__ import annotations

import os
import selectors
import signal
import threading
import time
import weakref
from codecs import getincrementaldecoder
from types import FrameType, TracebackType
from typing import Any

from textual.app import App
from textual.drivers.linux_driver import LinuxDriver

HANGUP = 128 + signal.SIGHUP      # the exit code when the terminal went away
POLL = 0.5                        # seconds between checks that the tty still is one

_WATCHES: weakref.WeakKeyDictionary[App[Any], TerminalWatch] = weakref.WeakKeyDictionary()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


class TerminalWatch:
    """`with TerminalWatch() as w: ... w.run(app)`: the view's whole life under one watch."""

    def __init__(self, grace: float = 3.0) -> None:
        self.grace = grace
        self.gone = threading.Event()
        self.reason = ""
        self.code = 0
        self._ttys = [fd for fd in (0, 1, 2) if _isatty(fd)]   # a hung-up tty is no tty any more
        self._saved: dict[int, Any] = {}
        self._closed = False
        self._app: App[Any] | None = None

    def __enter__(self) -> TerminalWatch:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGHUP, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._on_signal)
        threading.Thread(target=self._watch, name="kvmtune-terminal-watch", daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved = {}
        self._closed = True
        if self.gone.is_set():
            try:   # one line where a terminal is left to read it (a hung-up one says EIO)
                os.write(2, f"kvmtune: {self.reason}\n".encode())
            except OSError:
                pass

    def lost(self, reason: str, code: int = HANGUP) -> None:
        """The terminal is gone (or we were told to stop): from any thread or a signal handler."""
        if not self.gone.is_set():
            self.reason, self.code = reason, code
            self.gone.set()

    def run(self, app: App[int]) -> int:
        """Run `app` on the terminal; its return code, or this watch's when the terminal went."""
        if self.gone.is_set():          # hung up while the feed was opening
            return self.code
        _WATCHES[app] = self
        app.driver_class = HangupDriver
        try:
            app.run()
        except OSError:
            if not self.gone.is_set():
                raise
            # (EIO from a last write to the terminal that went away: nothing to tell)
        return self.code if self.gone.is_set() else app.return_code or 0

    def attach(self, app: App[Any]) -> None:
        """The driver started (the app has its loop): from now on an exit can be asked."""
        self._app = app

    # -- the watch thread ------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # no SystemExit here: raised in the middle of Textual it can orphan its input thread
        self.lost(f"stopped by {signal.Signals(signum).name}", 128 + signum)

    def _watch(self) -> None:
        while not self.gone.wait(POLL):
            if self._closed:
                return
            if any(not _isatty(fd) for fd in self._ttys):
                self.lost("the terminal went away")
        end = time.monotonic() + self.grace
        asked = False
        while time.monotonic() < end:
            asked = asked or self._ask_exit()
            time.sleep(0.05)
        os._exit(self.code)   # the normal exit did not finish: never linger as an orphan

    def _ask_exit(self) -> bool:
        app = self._app
        if app is None:
            return False                # the app has not started its driver (yet)
        # a message (thread-safe), not loop.call_soon: it is handled once the app is up,
        # never in the middle of its start-up (an exit there skips the mounting of widgets
        # that the first resize then looks for)
        try:
            app.call_later(app.exit, None, self.code)
        except RuntimeError:
            pass                        # its loop is closed: the app has ended already
        return True


class HangupDriver(LinuxDriver):
    """Textual's Linux driver, ending the app when the terminal goes instead of spinning."""

    def _lost(self, reason: str) -> None:
        watch = _WATCHES.get(self._app)
        if watch is not None:
            watch.lost(reason)
        else:
            self._app.call_later(self._app.exit, None, HANGUP)

    def _sigcont_application(self, *args: Any) -> None:
        watch = _WATCHES.get(self._app)
        if watch is not None and watch.gone.is_set():
            return                      # the hangup's SIGCONT: nothing to resume onto
        super()._sigcont_application(*args)

    def start_application_mode(self) -> None:
        # a SIGCONT while running (not after our own SIGTSTP) must not start a second input thread
        if self._key_thread is not None and self._key_thread.is_alive():
            return
        watch = _WATCHES.get(self._app)
        if watch is not None:
            watch.attach(self._app)
        super().start_application_mode()   # type: ignore[no-untyped-call]  # (untyped in Textual)

    def write(self, data: str) -> None:
        w = self._writer_thread
        if w is not None and w.ident is not None and not w.is_alive():
            # the writer thread has ended (stopped, or died on EIO when the terminal went):
            # its queue would fill and block the UI thread
            try:
                tty = self._file is not None and os.isatty(self._file.fileno())
            except (OSError, ValueError):
                tty = False
            if not tty:
                self._lost("the terminal went away")
            return
        super().write(data)

    def close(self) -> None:
        w = self._writer_thread
        if w is not None and w.is_alive():
            super().close()

    def run_input_thread(self) -> None:
        """Textual 8.2's input loop, except that EOF or a read error on stdin ends it."""
        from textual._parser import ParseError
        from textual._xterm_parser import XTermParser

        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        try:
            while not self.exit_event.is_set():
                for _key, mask in selector.select(0.1):
                    if not mask & selectors.EVENT_READ:
                        continue
                    try:
                        data = os.read(self.fileno, 4096)
                    except BlockingIOError:
                        continue
                    except OSError:     # EIO: the other end of the pty closed
                        data = b""
                    if not data:
                        self._lost("the terminal went away (end of input)")
                        return
                    for event in parser.feed(decode(data)):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
