"""The interpreters and package folders of what the local cloud runs isolated (Lambda runtimes, Glue's Python shell)."""

import subprocess
import sys

import pytest

from mlops_workshop.localcloud import pythons

MISSING = "localcloud-no-such-package-anywhere==1.0"


def test_an_absent_python_falls_back_to_the_local_clouds_own_and_says_so():
    python = pythons.interpreter("3.99")
    assert python.path == sys.executable and not python.exact
    assert python.describe().endswith("in place of Python 3.99: this machine has no python3.99 on PATH")


def test_a_present_python_is_the_real_interpreter_not_a_shim():
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    python = pythons.interpreter(own)
    assert python.exact and python.version == own
    done = subprocess.run([python.path, "-I", "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                          text=True, env={}, check=True)
    assert done.stdout.strip() == str(sys.version_info[:2])


def test_a_folder_installs_its_steps_once_and_names_what_it_left_out(tmp_path):
    python = pythons.interpreter(f"{sys.version_info.major}.{sys.version_info.minor}")
    steps = [pythons.Step.of(["tomli==2.0.1"]), pythons.Step.of([MISSING], required=False)]
    manifest = pythons.package_folder(tmp_path / "folder", python, steps, "a test set")
    assert manifest["installed"]["tomli"] == "2.0.1"
    assert list(manifest["left_out"]) == [MISSING]
    site = manifest["site"]
    found = subprocess.run([python.path, "-I", "-S", "-c", f"import sys; sys.path.append({site!r}); import tomli; "
                            "print(tomli.__file__)"], capture_output=True, text=True, check=True)
    assert found.stdout.startswith(site)
    assert pythons.package_folder(tmp_path / "folder", python, steps, "a test set") == manifest


def test_a_required_step_that_cannot_install_fails_the_folder(tmp_path):
    python = pythons.interpreter(f"{sys.version_info.major}.{sys.version_info.minor}")
    with pytest.raises(pythons.InstallError, match="localcloud-no-such-package-anywhere"):
        pythons.package_folder(tmp_path / "broken", python, [pythons.Step.of([MISSING])], "a broken set")
    assert not (tmp_path / "broken").exists()


def test_the_set_up_prepares_the_runtimes_the_templates_name():
    assert {"python3.12", "python3.13"} <= set(pythons.project_runtimes())
