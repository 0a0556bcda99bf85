"""The README's Python example runs as written, with the binding under test."""
import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_python_example_runs():
    text = open(README, encoding="utf-8").read()
    section = text[text.index("\n## Python\n"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("{'type': 'Q8_0', 'n': 256, 'k': 1024"), r.stdout
    assert float(lines[1]) < 0.05, r.stdout  # Q8_0 weights and activations: a small error
    assert lines[2].startswith("['scalar'"), r.stdout
