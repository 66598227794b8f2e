"""Every benchmark script imports: a rename in the product cannot silently break a bench (prefix_sharing.py
imported a helper of train.py for a whole session after the helper was gone). The scripts' own figures are
checked by running them (``make bench-quick``), not here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(path for path in (ROOT / "bench").glob("*.py"))

# One interpreter imports every script as a module (its main() does not run), and prints the ones that fail.
IMPORT_ALL = """
import importlib.util, sys, traceback
sys.path.insert(0, sys.argv[1])
failed = []
for path in sys.argv[2:]:
    name = "bench_" + path.rsplit("/", 1)[-1][:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        failed.append(path + "\\n" + traceback.format_exc(limit=3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_there_are_benchmark_scripts():
    assert {"train_vs_trl.py", "prefix_sharing.py", "oasst_cv.py", "quick.py"} <= {path.name for path in SCRIPTS}


def test_every_benchmark_script_imports():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, str(ROOT / "bench"), *map(str, SCRIPTS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
