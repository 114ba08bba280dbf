"""One trainer per model folder, and none outliving its launcher (t2igan.train.guard)."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from t2igan.train import guard

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = dict(os.environ, PYTHONPATH=SRC)


def test_a_second_trainer_on_a_folder_is_refused_naming_the_first(tmp_path):
    with guard.folder_lock(tmp_path / "m") as path:
        assert f"pid {os.getpid()}" in path.read_text()
        with pytest.raises(guard.FolderBusy, match=rf"{tmp_path / 'm'}: another trainer .*pid {os.getpid()}"):
            with guard.folder_lock(tmp_path / "m"):
                pass
    assert not path.exists()  # nothing left behind in the model folder
    with guard.folder_lock(tmp_path / "m"):  # and free again
        pass


def test_the_lock_of_a_killed_trainer_is_free(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from t2igan.train import guard
        with guard.folder_lock({str(tmp_path)!r}):
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(guard.FolderBusy, match=f"pid {holder.pid}"):
        with guard.folder_lock(tmp_path):
            pass
    holder.kill()
    holder.wait()
    assert (tmp_path / guard.LOCK_NAME).exists()  # kill -9 left the file, but not the lock
    with guard.folder_lock(tmp_path):
        pass


def _fake_launcher(tmp_path: Path, name: str) -> Path:
    """An executable called ``name`` that starts a watched child, prints its pid, and waits."""
    script = tmp_path / name
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent("""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c",
            "import time; from t2igan.train import guard; chain = guard.launcher_chain(); "
            "guard.watch(chain, poll=0.2); print(len(chain), flush=True); time.sleep(60)"])
        print(child.pid, flush=True)
        child.wait()
        """))
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("name", ["dvc", "torchrun"])
def test_a_trainer_stops_when_its_launcher_is_killed(tmp_path, name):
    launcher = subprocess.Popen([str(_fake_launcher(tmp_path, name))], stdout=subprocess.PIPE, text=True, env=ENV)
    child = int(launcher.stdout.readline())
    assert int(launcher.stdout.readline()) == 1  # the chain is the launcher itself
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and guard._proc(child) is not None:
        time.sleep(0.1)
    assert guard._proc(child) is None, "the orphaned trainer is still running"


def test_a_trainer_started_by_hand_watches_nothing():
    """Under a shell or pytest (no dvc, no torchrun above it), nohup-style runs are left alone."""
    assert guard.launcher_chain() == []
    out = subprocess.run([sys.executable, "-c", "from t2igan.train import guard; print(guard.launcher_chain())"],
                         capture_output=True, text=True, env=ENV, check=True)
    assert out.stdout.strip() == "[]"


def test_launchers_are_recognised_as_scripts_and_modules():
    assert guard._is_launcher(["/venv/bin/python", "/venv/bin/dvc", "repro"]) == "dvc"
    assert guard._is_launcher(["python", "-m", "dvc", "exp", "run"]) == "dvc"
    assert guard._is_launcher(["/venv/bin/torchrun", "--standalone", "stages/train.py"]) == "torchrun"
    assert guard._is_launcher(["python", "stages/train.py", "attngan"]) is None
