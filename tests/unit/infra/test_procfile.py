"""The Procfile honcho runs: one line per process, each one a command a shell can run."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

import pytest
from honcho.environ import parse_procfile

from api.common.settings import Settings
from infra.dev import PortClaim, check_ports_free, port_claims
from infra.procfile import dev_lines, infra_lines, render_procfile, write_procfile
from infra.services import SERVICE_SPECS, active_services, service_instances, task_queues
from infra.stack import StackError

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var", edge_port=41000)


def test_procfile_lists_the_stack_the_edge_each_service_and_a_worker_per_queue(settings: Settings) -> None:
    procfile = parse_procfile(render_procfile(dev_lines(settings)))
    assert list(procfile.processes) == [
        "postgres",
        "valkey",
        "temporal",
        "edge",
        "identity",
        "worker-identity",
        "catalog",
        "search",
        "worker-indexing",
        "content",
        "worker-content",
        "worker-video",
        "realtime",
        "realtime-2",
        "worker-sandbox",
    ]


def test_each_line_execs_the_right_command(settings: Settings) -> None:
    processes = parse_procfile(render_procfile(dev_lines(settings))).processes
    argv = {name: shlex.split(command) for name, command in processes.items()}
    for component in ("postgres", "valkey", "temporal"):
        assert argv[component][0] == "exec"
        assert argv[component][-3:] == ["stack", "run", component]
    assert argv["identity"][-3:] == ["serve", "identity", "--wait"]
    assert argv["worker-identity"][-3:] == ["worker", "identity", "--wait"]
    assert argv["catalog"][-3:] == ["serve", "catalog", "--wait"]
    assert argv["search"][-3:] == ["serve", "search", "--wait"]
    assert argv["worker-indexing"][-3:] == ["worker", "indexing", "--wait"]
    assert argv["content"][-3:] == ["serve", "content", "--wait"]
    assert argv["worker-content"][-3:] == ["worker", "content", "--wait"]
    assert argv["worker-video"][-3:] == ["worker", "video", "--wait"]
    for instance, port in (("realtime", 58105), ("realtime-2", 58115)):
        assert argv[instance][-5:] == ["serve", "realtime", "--port", str(port), "--wait"]
        assert argv[instance][: argv[instance].index("exec")] == [f"MRBILL_INSTANCE_NAME={instance}"]
    assert "MRBILL_INSTANCE_NAME" not in processes["identity"], "a single instance keeps its plain line"
    assert argv["worker-sandbox"][-3:] == ["worker", "sandbox", "--wait"]
    edge = argv["edge"]
    caddy_at = edge.index("exec") + 1
    assert Path(edge[caddy_at]).name == "caddy"
    assert edge[caddy_at + 1 :] == [
        "run",
        "--config",
        str(settings.var_dir.resolve() / "caddy" / "Caddyfile"),
        "--adapter",
        "caddyfile",
    ]
    assert any(part.startswith("XDG_DATA_HOME=") for part in edge[:caddy_at])


def test_paths_with_spaces_survive_the_shell(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "my var")
    edge = parse_procfile(render_procfile(dev_lines(settings))).processes["edge"]
    assert str(settings.var_dir.resolve() / "caddy" / "Caddyfile") in shlex.split(edge)


def test_stack_only_procfile_has_just_the_data_stores() -> None:
    assert [line.name for line in infra_lines()] == ["postgres", "valkey", "temporal"]


def test_procfile_is_written_under_var(settings: Settings) -> None:
    path = write_procfile(settings, dev_lines(settings))
    assert path == settings.var_dir.resolve() / "Procfile"
    assert "identity: " in path.read_text()


def test_only_existing_services_are_started() -> None:
    assert [spec.name for spec in active_services(("identity", "not-a-service"))] == ["identity"]
    assert task_queues(("identity",)) == list(SERVICE_SPECS["identity"].task_queues)
    assert task_queues(("identity", "catalog", "search")) == ["identity", "indexing"]
    assert task_queues(("identity", "catalog", "search", "content")) == [
        "identity",
        "indexing",
        "content",
        "video",
    ]


def test_one_port_moved_by_the_environment_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MRBILL_SERVICE_PORTS", '{"search": 41203}')
    ports = Settings().service_ports
    assert ports["search"] == 41203
    assert (ports["identity"], ports["catalog"]) == (58101, 58102)


def test_every_port_comes_from_settings(settings: Settings) -> None:
    claims = {claim.owner: claim.port for claim in port_claims(settings)}
    assert claims == {
        "postgres": settings.pg_port,
        "valkey": int(settings.valkey_url.rsplit(":", 1)[1].split("/")[0]),
        "temporal": int(settings.temporal_address.rsplit(":", 1)[1]),
        "temporal web UI": settings.temporal_ui_port,
        "edge": 41000,
        "identity": settings.service_ports["identity"],
        "catalog": settings.service_ports["catalog"],
        "search": settings.service_ports["search"],
        "content": settings.service_ports["content"],
        "realtime": settings.service_ports["realtime"],
        "realtime-2": settings.extra_instance_ports["realtime"][0],
    }
    assert {claim.setting for claim in port_claims(settings) if claim.owner.startswith("realtime")} == {
        "MRBILL_SERVICE_PORTS",
        "MRBILL_EXTRA_INSTANCE_PORTS",
    }


def test_instance_ports_are_moved_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MRBILL_SERVICE_PORTS", '{"realtime": 41105}')
    monkeypatch.setenv("MRBILL_EXTRA_INSTANCE_PORTS", '{"realtime": [41115]}')
    settings = Settings(var_dir=tmp_path)
    instances = service_instances(SERVICE_SPECS["realtime"], settings)
    assert [(i.name, i.port) for i in instances] == [("realtime", 41105), ("realtime-2", 41115)]
    argv = shlex.split(parse_procfile(render_procfile(dev_lines(settings))).processes["realtime-2"])
    assert argv[-3:] == ["--port", "41115", "--wait"]


def test_other_services_keep_one_instance(settings: Settings) -> None:
    scaled = {spec.name: spec.instances for spec in SERVICE_SPECS.values() if spec.instances > 1}
    assert scaled == {"realtime": 2}
    assert [i.name for i in service_instances(SERVICE_SPECS["identity"], settings)] == ["identity"]


def test_an_instance_without_a_port_is_refused_with_the_setting_to_set(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, extra_instance_ports={"realtime": ()})
    with pytest.raises(StackError, match="realtime runs 2 instances but MRBILL_EXTRA_INSTANCE_PORTS"):
        dev_lines(settings)


def test_a_busy_port_is_refused_with_the_setting_that_moves_it() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(StackError, match=f"edge needs port {port} \\(set MRBILL_EDGE_PORT"):
            check_ports_free([PortClaim("edge", port, "MRBILL_EDGE_PORT")])
