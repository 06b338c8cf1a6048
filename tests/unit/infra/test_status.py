"""`mrbill status`: a row per process, so each instance of a scaled service is seen on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.common.settings import Settings
from infra.stack import free_port
from infra.status import collect_status

pytestmark = pytest.mark.unit


async def test_each_realtime_instance_has_its_row_and_a_closed_one_shows_down(tmp_path: Path) -> None:
    first, second = free_port(), free_port()
    settings = Settings(
        var_dir=tmp_path,
        pg_port=free_port(),
        valkey_url=f"redis://127.0.0.1:{free_port()}/0",
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        edge_port=free_port(),
        service_ports={"realtime": first},
        extra_instance_ports={"realtime": (second,)},
    )
    rows = {row.name: row for row in await collect_status(settings)}
    assert [name for name in rows if name.startswith("realtime")] == ["realtime", "realtime-2"]
    assert (rows["realtime"].kind, rows["realtime"].address) == ("service", f"http://127.0.0.1:{first}")
    assert (rows["realtime-2"].kind, rows["realtime-2"].address) == ("service", f"http://127.0.0.1:{second}")
    assert not rows["realtime-2"].probe.up
    assert rows["realtime-2"].probe.detail == "port closed"
    assert "identity-2" not in rows
