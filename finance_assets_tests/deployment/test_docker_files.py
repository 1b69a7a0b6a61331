"""Static checks of the Docker deployment in docker/ (no Docker engine needed).

They parse docker/compose.yaml, docker/Dockerfile, docker/dagster.yaml and
docker/workspace.yaml and check them against each other, against the repository, and
against the instance/workspace config schemas of the installed Dagster.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest depends on tomli below 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
DAGSTER_YAML = DOCKER / "dagster.yaml"
WORKSPACE_YAML = DOCKER / "workspace.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"

DAGSTER_SERVICES = ("user_code", "webserver", "daemon")
DAGSTER_HOME = "/opt/dagster/dagster_home"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN|CREDENTIAL", re.IGNORECASE)
# ${VAR}, ${VAR?msg} or ${VAR:?msg}: taken from the environment/.env, with no default.
REQUIRED_VAR = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?\?[^}]*)?\}$")
ANY_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


# --------------------------------------------------------------------------- helpers


def _compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _services() -> dict[str, dict]:
    return _compose()["services"]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command or []]


def _option(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        if arg in names:
            return argv[i + 1]
    raise AssertionError(f"none of {names} in {argv}")


def _dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments (and parser directives) may sit inside continuations too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def _args_list(args: str) -> list[str]:
    """Arguments of an exec-form (JSON) or shell-form instruction."""
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


def _copy_sources(args: str) -> list[str] | None:
    """Sources of a COPY/ADD from the build context; None when it copies from a stage."""
    parts = _args_list(args)
    flags = [p for p in parts if p.startswith("--")]
    if any(f.startswith("--from=") for f in flags):
        return None
    paths = [p for p in parts if not p.startswith("--")]
    assert len(paths) >= 2, f"COPY needs a source and a destination: {args}"
    return paths[:-1]


def _dockerignore_patterns() -> list[str]:
    ignore = DOCKERFILE.with_name(DOCKERFILE.name + ".dockerignore")
    if not ignore.exists():
        return []
    lines = (line.strip() for line in ignore.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Roughly Docker's rule: a pattern excludes a path and everything under it."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = [pattern]
        if pattern.startswith("**/"):
            candidates.append(pattern[3:])
        if any(fnmatch(prefix, c) for prefix in prefixes for c in candidates):
            excluded = not negate
    return excluded


def _instance_config_with_sqlite_storage(target_dir: Path) -> Path:
    """docker/dagster.yaml with only its Postgres storage swapped for SQLite under target_dir."""
    config = yaml.safe_load(DAGSTER_YAML.read_text())
    assert "postgres" in config["storage"]
    config["storage"] = {"sqlite": {"base_dir": str(target_dir / "storage")}}
    (target_dir / "dagster.yaml").write_text(yaml.safe_dump(config))
    return target_dir


def _pyproject_dagster() -> dict:
    """The code location the dg project declares (``[tool.dg.project]``)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    return {
        "module_name": project["code_location_target_module"],
        "code_location_name": project["code_location_name"],
    }


# --------------------------------------------------------------------------- compose.yaml


def test_every_service_has_an_image_or_a_build():
    services = _services()
    expected = {"postgres", "minio", "minio-init", *DAGSTER_SERVICES}
    assert expected <= set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name} has no image or build"


def test_dagster_services_share_one_image_built_from_the_repo_root():
    services = _services()
    images = {services[name].get("image") for name in DAGSTER_SERVICES}
    assert len(images) == 1 and None not in images
    for name in DAGSTER_SERVICES:
        build = services[name]["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == REPO, f"{name} builds from {context}, not the repository root"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_published_ports_are_bound_to_localhost_only():
    services = _services()
    webserver_ports = services["webserver"].get("ports") or []
    assert any(str(p).endswith(":3000") for p in webserver_ports), webserver_ports
    for name, service in services.items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host_ip = port.get("host_ip")
            else:
                # A host port may come from the environment: "127.0.0.1:${PORT:-3000}:3000".
                spec = ANY_VAR.sub("0", str(port))
                host_ip = spec.split(":")[0] if spec.count(":") == 2 else None
            assert host_ip == "127.0.0.1", f"{name} publishes {port} on every interface"
    assert "ports" not in services["postgres"]
    assert "ports" not in services["user_code"]


def test_no_secret_literal_in_compose():
    for name, service in _services().items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VAR.match(value), (
                    f"{name}: {key} must come from docker/.env as ${{VAR}} or ${{VAR:?msg}}, "
                    f"with no default, not {value!r}"
                )
    # The placeholders of .env.example must not have been pasted into the compose file.
    text = COMPOSE_FILE.read_text()
    for key, value in _env_example().items():
        if SECRET_NAME.search(key):
            assert value not in text, f"the value of {key} from .env.example is in compose.yaml"


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_env_example_defines_every_required_variable_with_placeholders():
    example = _env_example()
    required = {
        m["name"]
        for m in ANY_VAR.finditer(COMPOSE_FILE.read_text())
        if not m["rest"].startswith((":-", "-"))
    }
    assert required, "compose.yaml takes no variables from .env"
    assert required <= set(example), f"missing from .env.example: {required - set(example)}"
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert "change-me" in value, f"{key} in .env.example should be an obvious placeholder"
    ignored = (DOCKER / ".gitignore").read_text().split()
    assert ".env" in ignored or "/.env" in ignored
    assert not (DOCKER / ".env").exists() or ".env" in ignored


def test_postgres_credentials_reach_every_dagster_process():
    services = _services()
    postgres_env = _environment(services["postgres"])
    for name in DAGSTER_SERVICES:
        env = _environment(services[name])
        assert env["DAGSTER_POSTGRES_USER"] == postgres_env["POSTGRES_USER"], name
        assert env["DAGSTER_POSTGRES_PASSWORD"] == postgres_env["POSTGRES_PASSWORD"], name
        assert env["DAGSTER_POSTGRES_DB"] == postgres_env["POSTGRES_DB"], name
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["postgres"]["healthcheck"]["test"]


def test_pipeline_environment_of_the_user_code_server():
    services = _services()
    env = _environment(services["user_code"])
    assert env["FINANCE_LANDING_URI"] == "s3://finance-landing/landing"
    assert env["FINANCE_LAKE_URI"] == "/data/lake"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    assert env["AWS_REGION"] == "us-east-1"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)

    # The bucket of the landing URI is the one minio-init creates, before user_code starts.
    bucket = env["FINANCE_LANDING_URI"].removeprefix("s3://").split("/")[0]
    init = services["minio-init"]
    assert init["image"].startswith("minio/mc")
    assert f"/{bucket}" in " ".join(_command(init))
    assert services["user_code"]["depends_on"]["minio-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["minio"]["healthcheck"]["test"]
    # MinIO's root credentials are the pipeline's S3 credentials.
    minio_env = _environment(services["minio"])
    assert minio_env["MINIO_ROOT_USER"] == env["AWS_ACCESS_KEY_ID"]
    assert minio_env["MINIO_ROOT_PASSWORD"] == env["AWS_SECRET_ACCESS_KEY"]


def test_lake_volume_is_shared_by_the_dagster_services():
    compose = _compose()
    for name in DAGSTER_SERVICES:
        mounts = [str(v) for v in compose["services"][name].get("volumes") or []]
        assert "lake:/data/lake" in mounts, f"{name} does not mount the lake volume"
        assert f"dagster_storage:{DAGSTER_HOME}/storage" in mounts, name
    assert {"lake", "dagster_storage", "postgres_data"} <= set(compose["volumes"])


def test_alert_log_of_the_user_code_server_is_on_a_mounted_volume():
    """Alerts are appended by sensors in user_code; the default path (next to the lake, in
    /data) is a root-owned folder of the image, so the service user could not write it."""
    user_code = _services()["user_code"]
    alert_log = _environment(user_code)["FINANCE_ALERT_LOG"]
    mounts = [str(v).split(":")[1] for v in user_code.get("volumes") or []]
    assert any(alert_log.startswith(m.rstrip("/") + "/") for m in mounts), (alert_log, mounts)


# --------------------------------------------------------------------------- Dockerfile


def test_every_file_the_dockerfile_copies_exists_in_the_build_context():
    patterns = _dockerignore_patterns()
    copies = [args for keyword, args in _dockerfile_instructions() if keyword in ("COPY", "ADD")]
    assert copies
    for args in copies:
        sources = _copy_sources(args)
        if sources is None:
            continue
        for source in sources:
            assert not source.startswith(("/", "..")), f"{source} is outside the build context"
            matches = list(REPO.glob(source.rstrip("/")))
            assert matches, f"Dockerfile copies {source}, which is not in the repository"
            for match in matches:
                relative = match.relative_to(REPO).as_posix()
                assert not _ignored(relative, patterns), f"{relative} is in the .dockerignore"


def test_dockerfile_copies_what_the_brief_and_pyproject_need():
    sources = set()
    for keyword, args in _dockerfile_instructions():
        if keyword == "COPY":
            sources.update(s.rstrip("/") for s in _copy_sources(args) or [])
    readme = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["readme"]
    assert {"pyproject.toml", readme, "finance_assets"} <= sources
    assert {"docker/dagster.yaml", "docker/workspace.yaml"} <= sources


def test_dockerfile_base_java_install_user_and_dagster_home():
    instructions = _dockerfile_instructions()
    text = "\n".join(f"{k} {a}" for k, a in instructions)

    args = {}
    for keyword, value in instructions:
        if keyword == "ARG" and "=" in value:
            key, _, default = value.partition("=")
            args[key] = default
    base = next(a for k, a in instructions if k == "FROM").split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base

    jre = re.search(r"openjdk-(\d+)-jre-headless", text)
    assert jre and int(jre[1]) >= 17, "Spark needs a headless OpenJDK 17+ JRE"
    assert re.search(r"pip install[^&]* \.( |$)", text), "the project is not pip-installed"
    assert re.search(r"dagster-postgres[^\"\s]*0\.29", text), "dagster-postgres 0.29.x missing"

    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "image must not run as root"

    env_text = " ".join(a for k, a in instructions if k == "ENV")
    assert f"DAGSTER_HOME={DAGSTER_HOME}" in env_text
    copies = [_args_list(a) for k, a in instructions if k == "COPY"]
    assert ["docker/dagster.yaml", f"{DAGSTER_HOME}/dagster.yaml"] in copies


def test_dockerfile_default_command_is_the_user_code_server():
    instructions = _dockerfile_instructions()
    cmd = _args_list(next(a for k, a in reversed(instructions) if k == "CMD"))
    assert cmd == _command(_services()["user_code"])


# --------------------------------------------------------------------------- dagster.yaml


def test_dagster_yaml_validates_against_the_instance_config_schema():
    from dagster._core.instance.config import dagster_instance_config

    config, custom_instance_class = dagster_instance_config(str(DOCKER))
    assert custom_instance_class is None
    postgres_db = config["storage"]["postgres"]["postgres_db"]
    assert postgres_db["hostname"] == "postgres"
    assert postgres_db["username"] == {"env": "DAGSTER_POSTGRES_USER"}
    assert postgres_db["password"] == {"env": "DAGSTER_POSTGRES_PASSWORD"}
    assert postgres_db["db_name"] == {"env": "DAGSTER_POSTGRES_DB"}
    assert config["telemetry"] == {"enabled": False}
    # One run at a time writes a table, and ended runs give their pool slots back.
    assert config["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1}
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    # The hostname is the compose service of the database.
    assert "postgres" in _services()


def test_dagster_yaml_names_the_postgres_driver_dagster_postgres_installs():
    """dagster-postgres 0.29 depends on psycopg2-binary only, but builds `{scheme}://...`
    URLs for SQLAlchemy, and SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3."""
    from sqlalchemy.engine import make_url

    config = yaml.safe_load(DAGSTER_YAML.read_text())
    scheme = config["storage"]["postgres"]["postgres_db"].get("scheme", "postgresql")
    assert make_url(f"{scheme}://user@postgres/db").get_dialect().driver == "psycopg2"


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda c: c.update(run_coordinater=c["run_coordinator"]), id="unknown-key"),
        pytest.param(
            lambda c: c["storage"]["postgres"]["postgres_db"].update(host="postgres"),
            id="unknown-postgres-key",
        ),
        pytest.param(
            lambda c: c["concurrency"]["runs"].update(max_concurrent_runs="two"),
            id="wrong-type",
        ),
        pytest.param(lambda c: c.update(telemetry={"enable": False}), id="telemetry-typo"),
    ],
)
def test_the_schema_check_rejects_a_broken_dagster_yaml(tmp_path, mutate):
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    config = yaml.safe_load(DAGSTER_YAML.read_text())
    mutate(config)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


def test_dagster_yaml_builds_the_intended_instance(tmp_path):
    """Load the real classes; only the Postgres storage is replaced, by SQLite in tmp_path."""
    from dagster import DagsterInstance, DefaultRunLauncher, QueuedRunCoordinator
    from dagster._core.instance.ref import InstanceRef

    ref = InstanceRef.from_dir(str(_instance_config_with_sqlite_storage(tmp_path)))
    instance = DagsterInstance.from_ref(ref)
    try:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        run_queue = instance.get_concurrency_config().run_queue_config
        assert run_queue is not None and run_queue.max_concurrent_runs == 1
        assert not instance.telemetry_enabled
    finally:
        instance.dispose()


# --------------------------------------------------------------------------- workspace.yaml


def test_workspace_points_at_the_user_code_server():
    from dagster._config import validate_config
    from dagster._core.workspace.config_schema import WORKSPACE_CONFIG_SCHEMA

    workspace = yaml.safe_load(WORKSPACE_YAML.read_text())
    result = validate_config(WORKSPACE_CONFIG_SCHEMA, workspace)
    assert result.success, result.errors

    (entry,) = workspace["load_from"]
    grpc = entry["grpc_server"]
    services = _services()
    user_code = _command(services["user_code"])
    dagster = _pyproject_dagster()

    assert user_code[:3] == ["dagster", "code-server", "start"]
    assert grpc["host"] == "user_code" and grpc["host"] in services
    assert _option(user_code, "-h", "--host") == "0.0.0.0"
    assert int(_option(user_code, "-p", "--port")) == grpc["port"] == 4000
    assert _option(user_code, "-m", "--module-name") == dagster["module_name"]
    assert _option(user_code, "--location-name") == grpc["location_name"]
    assert grpc["location_name"] == dagster["code_location_name"]


def test_webserver_and_daemon_load_the_docker_workspace():
    services = _services()
    webserver = _command(services["webserver"])
    daemon = _command(services["daemon"])
    assert webserver[0] == "dagster-webserver"
    assert _option(webserver, "-h", "--host") == "0.0.0.0"
    assert _option(webserver, "-p", "--port") == "3000"
    assert daemon[:2] == ["dagster-daemon", "run"]

    instructions = _dockerfile_instructions()
    workdir = [a for k, a in instructions if k == "WORKDIR"][-1]
    copies = [_args_list(a) for k, a in instructions if k == "COPY"]
    for argv in (webserver, daemon):
        workspace = _option(argv, "-w", "--workspace")
        target = workspace if workspace.startswith("/") else f"{workdir}/{workspace}"
        assert ["docker/workspace.yaml", target] in copies


# --------------------------------------------------------------------------- offline builds


def test_dockerfile_pulls_nothing_but_its_base_image():
    """A `# syntax=` directive makes BuildKit pull a frontend image from Docker Hub before it
    reads the file, so the build would fail wherever only the base image is available; the
    built-in frontend has everything the file uses. The base is a build argument."""
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("#"):
            break
        assert not re.match(r"#\s*syntax\s*=", line, re.IGNORECASE), line
    froms = [args for keyword, args in _dockerfile_instructions() if keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE}"], froms


def test_dockerfile_trusts_an_optional_extra_ca_before_downloading():
    instructions = _dockerfile_instructions()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    ca_step = next(i for i, args in enumerate(runs) if "id=extra_ca" in args)
    download = next(i for i, args in enumerate(runs) if "apt-get" in args or "pip install" in args)
    assert ca_step < download, "the extra CA must be trusted before apt and pip run"
    assert "required=true" not in runs[ca_step], "the extra CA must stay optional"
    assert "if [ -s /run/secrets/extra_ca ]" in runs[ca_step]


TEST_COMPOSE_FILE = DOCKER / "test" / "compose.test.yaml"


def test_the_test_override_replaces_images_not_wiring():
    """docker/test/compose.test.yaml swaps the third-party images for ones built from Debian
    packages; ports, volumes, dependencies and the Dagster services stay production's."""
    override = yaml.safe_load(TEST_COMPOSE_FILE.read_text())["services"]
    services = _services()
    assert set(override) <= set(services)
    stand_ins = {"image", "pull_policy", "command", "entrypoint", "healthcheck", "environment"}
    for name in ("postgres", "minio", "minio-init"):
        assert set(override[name]) <= stand_ins, (name, set(override[name]) - stand_ins)
        assert override[name]["pull_policy"] == "never"
    assert set(override.get("user_code", {})) <= {"environment"}
    assert set(override["user_code"]["environment"]) <= {"FINANCE_LANDING_SENSOR_INTERVAL_SECONDS"}
    assert not {"webserver", "daemon"} & set(override)
    # The bucket minio-init creates is the landing URI's.
    bucket = _environment(services["user_code"])["FINANCE_LANDING_URI"].split("/")[2]
    assert override["minio-init"]["environment"]["LANDING_BUCKET"] == bucket


def test_the_test_images_build_on_the_product_base():
    product_default = next(
        a for k, a in _dockerfile_instructions() if k == "ARG" and a.startswith("PYTHON_IMAGE=")
    ).partition("=")[2]
    for name in ("postgres.Dockerfile", "s3.Dockerfile"):
        instructions = _dockerfile_instructions(DOCKER / "test" / name)
        froms = [args for keyword, args in instructions if keyword == "FROM"]
        assert froms == ["${BASE_IMAGE}"], (name, froms)
        assert ("ARG", f"BASE_IMAGE={product_default}") in instructions, name


def test_the_dependency_layer_depends_on_pyproject_only():
    """Editing the code or the README must not re-download the dependencies (PySpark alone is
    450 MB): everything COPYed before the first `pip install` is pyproject.toml."""
    copied = []
    for keyword, args in _dockerfile_instructions():
        if keyword == "COPY":
            copied += _copy_sources(args) or []
        if keyword == "RUN" and "pip install" in args:
            break
    assert copied == ["pyproject.toml"], copied
