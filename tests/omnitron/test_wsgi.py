import json
import subprocess
import sys

from apicore import process

REPORT = """
import gc, json
import omnitron.wsgi
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()), "young": gc.get_threshold()[0]}))
"""


def test_loading_the_application_leaves_its_objects_out_of_the_cycle_collectors_passes(tmp_path):
    # A fresh interpreter, as a server's worker: the test process has loaded far more than the application.
    out = subprocess.run([sys.executable, "-c", REPORT], check=True, capture_output=True, text=True, cwd=tmp_path)
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["frozen"] > 10 * counts["tracked"], counts


def test_the_cycle_collector_passes_over_young_objects_as_rarely_as_the_policy_says(tmp_path):
    out = subprocess.run([sys.executable, "-c", REPORT], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert json.loads(out.stdout.strip().splitlines()[-1])["young"] == process.YOUNG_OBJECTS > 700
