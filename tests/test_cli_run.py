"""`cli.py run` as a real process: it syncs, and SIGTERM / SIGINT stop it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, config_text

from workflow.config import load_config
from workflow.schema import WORKER
from workflow.storage.local import LocalWorkbookStorage


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_run_syncs_then_stops_cleanly_on_a_signal(tmp_path: Path, stop_with: signal.Signals) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path), encoding="utf-8")
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "-c", str(path), "setup"], check=True,
                   capture_output=True)
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "-c", str(path), "-v", "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = process.stdout.readline()
        assert "syncing" in banner
        for line in process.stderr:  # the first sync's log line (IDs and counts only)
            if "sync done" in line:
                break
        process.send_signal(stop_with)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped after 1 sync(s), 0 failed" in out
    settings = LocalWorkbookStorage(load_config(path)).load().tab("worker").records(WORKER)
    assert any(s["Setting"] == "Last successful sync" for s in settings)
