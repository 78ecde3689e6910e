"""The container engine's parts that need no engine: finding the apt mirror and the extra CAs, and saying
clearly why no engine can be used."""

from __future__ import annotations

import pytest

from mlops_workshop.localcloud.images import engine as engine_module
from mlops_workshop.localcloud.images.engine import ContainerEngine, EngineError, apt_mirror


def test_mirror_from_deb822_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n")
    (tmp_path / "sources.list.d" / "other.sources.disabled").write_text(
        "Types: deb\nURIs: http://wrong.example/debian\nSuites: bookworm\n")
    assert apt_mirror("bookworm", tmp_path) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64] http://ftp.example.org/debian bookworm main contrib\n")
    assert apt_mirror("bookworm", tmp_path) == "http://ftp.example.org/debian"


def test_mirror_of_another_release_or_none(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_DEBIAN_MIRROR", raising=False)
    assert apt_mirror("bookworm", tmp_path) == "http://deb.debian.org/debian"
    (tmp_path / "sources.list").write_text("deb http://archive.ubuntu.com/ubuntu noble main\n"
                                           "deb http://local.example/debian trixie main\n")
    assert apt_mirror("bookworm", tmp_path) == "http://local.example/debian"
    monkeypatch.setenv("MLOPS_DEBIAN_MIRROR", "http://chosen.example/debian/")
    assert apt_mirror("bookworm", tmp_path) == "http://chosen.example/debian"


def test_extra_cas_are_found_in_the_local_folders(tmp_path, monkeypatch):
    (tmp_path / "corp").mkdir()
    (tmp_path / "corp" / "proxy.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "README").write_text("not a certificate")
    monkeypatch.setattr(engine_module, "HOST_CA_DIRS", (str(tmp_path), str(tmp_path / "absent")))
    assert engine_module.host_extra_cas() == [tmp_path / "corp" / "proxy.crt"]


def test_unavailable_engine_says_why(monkeypatch):
    monkeypatch.setenv("MLOPS_SKIP_ENGINE", "1")
    engine = ContainerEngine()
    ok, why = engine.available()
    assert not ok and "MLOPS_SKIP_ENGINE" in why
    with pytest.raises(EngineError, match="MLOPS_SKIP_ENGINE"):
        engine.start()
    assert engine.host is None and engine.stop() == []


def test_commands_before_start_say_what_to_do():
    with pytest.raises(EngineError, match=r"call start\(\) first"):
        ContainerEngine().docker("version")
