"""Every log line is one whole JSON object, even when Souk's own lines and a library's are written at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

WRITERS = textwrap.dedent(
    """
    import logging, threading
    import structlog
    from souk.core.observability import configure_logging

    configure_logging("info", json=True)
    mine, library = structlog.get_logger("souk"), logging.getLogger("uvicorn.error")

    def souk() -> None:
        for i in range(5000):
            mine.info("souk line", i=i)

    def lib() -> None:
        for i in range(5000):
            library.info("library line %d", i)

    threads = [threading.Thread(target=souk), threading.Thread(target=lib)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
)


def test_lines_from_structlog_and_the_logging_module_never_share_a_line() -> None:
    done = subprocess.run([sys.executable, "-c", WRITERS], capture_output=True, text=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert len(lines) == 10_000
    events = [json.loads(line)["event"] for line in lines]  # a line holding two objects would not parse
    assert events.count("souk line") == 5000
