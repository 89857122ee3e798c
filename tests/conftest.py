"""Test setup: no network, a private Hugging Face home, and the fake teacher and environment as fixtures.

`datasets` and `huggingface_hub` read their environment at import time, so it is set here, before
any test module imports them.
"""

from __future__ import annotations

import os
import socket
import tempfile


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Every Hugging Face request goes to the Hub emulator on loopback, never to the network.
HUB_PORT = _free_port()
_HF_HOME = tempfile.mkdtemp(prefix="refed-tests-hf-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HUB_OFFLINE"] = "0"
os.environ["HF_DATASETS_OFFLINE"] = "0"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
for _name in (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_VERSION",
    "AZURE_ENDPOINT",
    "AZURE_OPENAI_KEY",
    "AZURE_VERSION",
    "HF_TOKEN",
):
    os.environ.pop(_name, None)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.fakes.hub import FakeHub  # noqa: E402
from tests.fakes.teacher import FakeTeacher, TeacherFaults  # noqa: E402
from tests.helpers import HUB_TOKEN, TEST_KEY, running_teacher, set_env, user_env  # noqa: E402


@pytest.fixture(scope="session")
def hub() -> Iterator[FakeHub]:
    emulator = FakeHub(tokens={HUB_TOKEN: "tester"}, port=HUB_PORT).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def fake_teacher() -> Iterator[FakeTeacher]:
    with running_teacher(TeacherFaults(api_key=TEST_KEY)) as teacher:
        yield teacher


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API key a user sets, with no teacher URL: the test gives `--base-url` itself."""
    set_env(monkeypatch, user_env())


@pytest.fixture
def teacher_env(monkeypatch: pytest.MonkeyPatch, fake_teacher: FakeTeacher) -> FakeTeacher:
    """The environment a user would set to point the build at the fake teacher."""
    set_env(monkeypatch, user_env(fake_teacher))
    return fake_teacher


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
