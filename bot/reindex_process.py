"""Re-index in a child process at lower CPU priority, so that a running bot keeps answering meanwhile.

A re-index parses, tokenises and embeds for seconds to minutes. Run inside the bot it would share the GIL
and the CPU with every question; in a child process started with ``--nice`` the operating system gives the
bot's questions the CPU first. The child writes a new index version and switches CURRENT (with the index
lock, checksums and fsyncs of any build); the bot picks the new version up at its next question.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings, settings_env
from bot.retrieval.indexer import BuildReport, IndexBusy

NICE = 10
TIMEOUT = 2 * 3600


class ReindexFailed(Exception):
    """The child process failed; the message is the tail of what it said."""


def reindex_in_child(settings: Settings, nice: int = NICE) -> BuildReport:
    """Build a new version of the configured knowledge (with uploads) in a child process; return its report."""
    env = {k: v for k, v in os.environ.items() if k != "BOT_CONFIG"}
    env.update(settings_env(settings))
    for secret in ("TELEGRAM_BOT_TOKEN", "BOT_WEBHOOK_SECRET"):  # the LLM key stays: it writes phrasings
        env.pop(secret, None)
    command = [sys.executable, "-m", "bot", "index", "--report-json", "--nice", str(nice)]
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    if result.returncode == 2 and "另一个索引任务" in result.stderr:
        raise IndexBusy("另一个索引任务正在进行")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise ReindexFailed(f"index process exited with {result.returncode}: {tail}")
    data = json.loads(lines[-1])
    data["errors"] = [tuple(error) for error in data.get("errors", [])]
    return BuildReport(**data)
