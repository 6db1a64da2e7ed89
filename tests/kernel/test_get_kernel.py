"""`cgman get` against the real kernel: values as the kernel has them, by name or by controller, with
refusals that say what to ask instead."""

from __future__ import annotations

import json

from conftest import home

GROUPS = '[group."web"]\ncpu.weight = 200\npids.max = 50\n'
WEIGHT = "cpu.weight" if home("cpu") == "unified" else "cpu.shares"
OTHER = "cpu.shares" if WEIGHT == "cpu.weight" else "cpu.weight"


def test_named_files_as_the_kernel_has_them(kenv):
    kenv.applied(GROUPS)
    done = kenv.run("get", "-r", WEIGHT, "-r", "pids.max", "web")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"web:\n{WEIGHT}: {'200' if WEIGHT == 'cpu.weight' else '2048'}\npids.max: 50\n\n"
    assert kenv.run("get", "-n", "-v", "-r", "pids.max", "web").stdout == "50\n"


def test_every_file_of_the_controllers_asked(kenv):
    kenv.applied(GROUPS)
    done = kenv.run("get", "--json", "-g", "pids", "web")
    values = json.loads(done.stdout)["groups"][0]["values"]
    assert values["pids.max"] == "50" and "pids.current" in values
    assert not any(name.startswith("cpu.") for name in values)
    everything = json.loads(kenv.run("get", "--json", "web").stdout)["groups"][0]["values"]
    assert WEIGHT in everything and "pids.max" in everything


def test_refusals(kenv):
    kenv.applied(GROUPS)
    done = kenv.run("get", "-r", OTHER, "web")
    assert done.returncode == 1 and f"has no file {OTHER}" in done.stderr
    assert f"on this host the knob is {WEIGHT}" in done.stderr
    done = kenv.run("get", "nope")
    assert done.returncode == 1 and f"no group {kenv.prefix}/nope in any hierarchy" in done.stderr
    done = kenv.run("get", "web", "-r", "nonsense.file")
    assert done.returncode == 1 and "has no file nonsense.file" in done.stderr
