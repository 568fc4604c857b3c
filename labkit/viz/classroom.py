"""A room of students on one served explorer: Bokeh client sessions that move a slider.

Each student is a real Bokeh client session (``bokeh.client``) on a ``labkit serve spectrum``
server: it opens the page's document, tells the server it is ready (as a browser does after it
has drawn the page), moves the "top k" slider and waits until the summary, the ranked plot's
title and its data all show its own value. Every state a student sees while it waits is kept,
so a test can check that no student ever saw another student's value.

Used by ``tests/test_serve_load.py`` and ``benchmarks/serve_classroom.py``.

Examples
--------
>>> moves_for(student=3, n_moves=4, k_max=10)
[5, 6, 7, 8]
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Student", "StudentReport", "moves_for", "open_student", "run_room"]

SLIDER_TITLE = "top k"
_TOP = re.compile(r"top (\d+) eigenvalues")
_LAMBDA = re.compile(r"λ_(\d+) =")


def moves_for(student: int, n_moves: int, k_max: int) -> list[int]:
    """Slider values of ``student``: ``n_moves`` steps through ``2..k_max``, its own offset.

    Consecutive values always differ, so every move changes what is drawn.
    """
    span = k_max - 1
    return [2 + (student + j) % span for j in range(n_moves)]


@dataclass
class StudentReport:
    """What one student saw: seconds per update, every (move, state) it observed while it
    waited (see :meth:`Student.state`), errors, and the ranked eigenvalues drawn at the end."""

    seconds: list[float] = field(default_factory=list)
    seen: list[tuple[int, int | None, int | None, int | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ranked: list[float] = field(default_factory=list)


class Student:
    """One Bokeh client session on a served spectrum explorer.

    Parameters
    ----------
    url
        The app's URL, e.g. ``http://127.0.0.1:5006/spectrum``.
    ready
        Send the ``document_ready`` event a browser sends once it has drawn the page; a
        careless client leaves it out.
    """

    def __init__(self, url: str, ready: bool = True) -> None:
        import panel  # noqa: F401  (registers panel's models before the document arrives)
        from bokeh.client import pull_session
        from bokeh.events import DocumentReady
        from bokeh.models import ColumnDataSource, Slider, Title

        self.session = pull_session(url=url)
        doc = self.session.document
        self.slider = doc.select_one({"type": Slider, "title": SLIDER_TITLE})
        if self.slider is None:
            raise ValueError(f"url {url!r} serves no slider titled {SLIDER_TITLE!r}")
        self.titles = [t for t in doc.select({"type": Title}) if _TOP.search(t.text or "")]
        self.summaries = [m for m in doc.roots[0].references() if _LAMBDA.search(_text(m))]
        self.sources = list(doc.select({"type": ColumnDataSource}))
        if ready:
            doc.callbacks.send_event(DocumentReady())
            self.session.force_roundtrip()

    def state(self) -> tuple[int | None, int | None, int | None]:
        """(k in the ranked plot's title, k in the summary, rows of the ranked plot's data)."""
        title = next((_TOP.search(t.text) for t in self.titles if _TOP.search(t.text)), None)
        summary = next((_LAMBDA.search(_text(m)) for m in self.summaries), None)
        rows = [len(s.data.get("rank", ())) for s in self.sources if "rank" in s.data]
        return (
            int(title.group(1)) if title else None,
            int(summary.group(1)) if summary else None,
            rows[0] if rows else None,
        )

    def ranked(self) -> list[float]:
        """The eigenvalues the ranked plot draws now."""
        data = next((s.data for s in self.sources if "rank" in s.data), {})
        return [float(v) for v in data.get("eigenvalue", ())]

    def move(self, value: int) -> None:
        """Set the slider (sent to the server at once; nothing is awaited)."""
        self.slider.value = value

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Process server messages until ``done()`` or ``timeout`` seconds; return ``done()``."""
        connection = self.session._connection  # bokeh's client loop: runs until the predicate
        loop = connection.io_loop
        handle = loop.call_later(timeout, loop.stop)
        try:
            connection._loop_until(done)
        finally:
            loop.remove_timeout(handle)
        return done()

    def close(self) -> None:
        """Close the session's websocket."""
        self.session.close()

    def drop(self) -> None:
        """Cut the connection without a closing handshake, as a lost network or a killed
        browser would; whatever the server is sending this session goes nowhere."""
        tornado_socket = self.session._connection._socket._socket
        raw = tornado_socket.protocol.stream.socket
        raw.shutdown(socket.SHUT_RDWR)
        raw.close()


def _text(model) -> str:
    return str(getattr(model, "text", "") or "")


def open_student(url: str, ready: bool = True) -> Student:
    """Open one student session on ``url`` (see :class:`Student`)."""
    return Student(url, ready=ready)


def _lesson(student: Student, moves: list[int], timeout: float, report: StudentReport) -> None:
    for j, value in enumerate(moves):
        start = time.perf_counter()
        student.move(value)

        def arrived(value=value, j=j) -> bool:
            state = student.state()
            report.seen.append((j, *state))
            return state == (value, value, value)

        if not student.wait_for(arrived, timeout):
            report.errors.append(f"move {j} to {value} did not arrive in {timeout} s")
            return
        report.seconds.append(time.perf_counter() - start)
    report.ranked = student.ranked()


def run_room(
    url: str, n_students: int, n_moves: int, k_max: int, timeout: float = 60.0
) -> list[StudentReport]:
    """Open ``n_students`` sessions at once, each moving the slider ``n_moves`` times.

    Every student opens its session, then all start their lessons together (a barrier);
    each move waits until that student's own value is drawn (or ``timeout`` seconds).
    The sessions are closed before returning.
    """
    reports = [StudentReport() for _ in range(n_students)]
    students: list[Student | None] = [None] * n_students
    barrier = threading.Barrier(n_students)

    def attend(i: int) -> None:
        try:
            students[i] = open_student(url)
        except Exception as exc:  # reported, and the barrier is broken for the others
            reports[i].errors.append(f"open: {type(exc).__name__}: {exc}")
            barrier.abort()
            return
        try:
            barrier.wait(timeout=timeout)
            _lesson(students[i], moves_for(i, n_moves, k_max), timeout, reports[i])
        except Exception as exc:
            reports[i].errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            students[i].close()

    threads = [threading.Thread(target=attend, args=(i,), daemon=True) for i in range(n_students)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reports
