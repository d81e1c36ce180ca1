"""The one way diagnostics leave the program: single lines on stderr, as text or JSON.

Vector turns every stderr line into an event, so a message is always exactly one line, and in
``json`` format one JSON object. stdout is never touched here: it carries events only.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import IO, Any

__all__ = ["Reporter", "LEVELS"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}

#: A PEM block (or what is left of one) in a line: blanked whatever setting it was put in.
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)", re.S)


class Reporter:
    def __init__(
        self,
        *,
        level: str = "info",
        fmt: str = "text",
        stream: IO[str] | None = None,
    ) -> None:
        self.threshold = LEVELS.get(level, 20)
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stderr
        #: Secrets to blank out if one ever reaches a message (defence in depth).
        self._redact: re.Pattern[str] | None = None

    def configure(self, *, level: str, fmt: str) -> None:
        """Adopt the resolved log settings (they may come from the --config file)."""
        self.threshold = LEVELS.get(level, 20)
        self.fmt = fmt

    def redact(self, *values: str) -> None:
        """Blank these values out of every line, except the integration key as the `client_id`
        of a consent URL: the one place an admin must see it."""
        secrets = [re.escape(v) for v in values if v and len(v) >= 6]
        if self._redact is not None:
            secrets.append(self._redact.pattern)
        if secrets:
            self._redact = re.compile("(?<!client_id=)(?:" + "|".join(secrets) + ")")

    def redact_key(self, pem: str) -> None:
        """Blank out the lines of this private key's body, should one ever reach a message."""
        self.redact(*(line.strip() for line in pem.splitlines()
                      if len(line.strip()) >= 16 and not line.startswith("-----")))

    def debug(self, message: str, **fields: Any) -> None:
        self.emit("debug", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.emit("info", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.emit("warning", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.emit("error", message, **fields)

    def emit(self, level: str, message: str, **fields: Any) -> None:
        if LEVELS[level] < self.threshold:
            return
        line = self.render(level, message, **fields)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # stderr gone: nothing sensible left to tell anyone

    def render(self, level: str, message: str, **fields: Any) -> str:
        """The line `emit` would write (without its newline), for writers that must not block
        on the stream's lock (the stop watchdog)."""
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        if self.fmt == "json":
            record = {"time": stamp, "level": level, "message": message}
            record.update(fields)
            line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
        else:
            extras = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items() if v is not None)
            line = f"{stamp} docusign-input {level}: {message}" + (f" ({extras})" if extras else "")
        if "-----BEGIN" in line:
            line = _PEM_BLOCK.sub("[key material hidden]", line)
        if self._redact is not None:
            line = self._redact.sub("********", line)
        return line.replace("\r", " ").replace("\n", " ")


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text
