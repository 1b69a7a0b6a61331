"""Build and run the Docker deployment of docker/ for real: engine, images, compose stack.

The deployment test (``test_docker_deploy.py``, ``make docker-test``) does everything through
this module, and a developer can drive the same steps by hand:

    python -m finance_assets_tests.support.docker_deploy images   # engine, base image, the 3 images
    python -m finance_assets_tests.support.docker_deploy up       # ... then start the test stack
    python -m finance_assets_tests.support.docker_deploy down     # stop it and delete its volumes

What it needs and what it does when something is missing (as root on Debian, like CI):

* a Docker engine: when none answers, Debian's ``docker.io`` is installed if needed and
  ``dockerd`` is started; only a daemon started here is stopped again (:class:`Engine`);
* Docker Compose v2 and buildx: the ``docker compose`` / ``docker buildx`` plugins when
  installed, otherwise the binaries of Debian's ``docker-compose`` and ``docker-buildx``
  packages (from trixie: bookworm only has the Python Compose v1, which rejects the
  compose file's ``name:``), downloaded with apt into the cache folder, not installed;
* the base image: ``PYTHON_IMAGE``'s default from docker/Dockerfile when it is present or
  can be pulled, otherwise a local image of the same Debian release and Python, made with
  ``debootstrap`` from Debian packages and ``docker import`` (kept, so that later builds
  reuse their cached layers);
* extra CA certificates for pip inside the builds: the bundle that pip on this machine is
  configured with (``pip config list``), passed as the BuildKit secret ``extra_ca``.

Secrets (the Postgres password, the S3 credentials) are generated per stack and reach
``docker compose`` through its environment only: never in an argument list or a log line.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
TEST_DIR = DOCKER_DIR / "test"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
TEST_COMPOSE_FILE = TEST_DIR / "compose.test.yaml"

CACHE = Path(
    os.environ.get("FINANCE_DOCKER_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "finance-assets-docker"
)

# The images compose runs: the product image under the name docker/compose.yaml gives it,
# and the two test stand-ins named in docker/test/compose.test.yaml.
PRODUCT_IMAGE = "finance-assets-dagster:local"
POSTGRES_IMAGE = "finance-assets-test-postgres:local"
S3_IMAGE = "finance-assets-test-s3:local"

# The local base image: the Debian release and Python of python:3.11-slim-bookworm.
BASE_SUITE = "bookworm"
LOCAL_BASE_IMAGE = "finance-assets-base:bookworm-python3.11"
BASE_PACKAGES = (
    "ca-certificates",
    "netbase",
    "tzdata",
    "python3",
    "python3-venv",
    "python3-wheel-whl",
)
RECIPE_LABEL = "org.finance-assets.base-recipe"
# On every image built here, so that the ones a rebuild left untagged can be pruned without
# touching anybody else's images.
BUILT_BY_LABEL = "org.finance-assets.built-by=finance_assets_tests.support.docker_deploy"
# Run inside the debootstrapped root: the release's updates and security suites, and a
# virtual environment *at /usr/local*, so that `python`, `pip` and every console script
# pip installs are in /usr/local/bin, as in the python:*-slim images.
BASE_SETUP = """set -eu
cat > /etc/apt/sources.list <<EOF
deb {mirror} {suite} main
deb {mirror} {suite}-updates main
deb {security} {suite}-security main
EOF
python3 -m venv /usr/local
/usr/local/bin/pip install --quiet --no-index --no-cache-dir /usr/share/python-wheels/wheel-*.whl
rm -f /usr/local/bin/activate* /usr/local/bin/Activate.ps1
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/*
: > /etc/resolv.conf
"""
BASE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)

# Debian suite whose docker-compose (v2) and docker-buildx packages are used when the
# plugins are not installed.
PLUGINS_SUITE = "trixie"
PLUGINS = {"docker-compose": "docker-compose", "docker-buildx": "docker-buildx"}

ENGINE_START_TIMEOUT_S = 90
PULL_TIMEOUT_S = 600
COMPOSE_UP_TIMEOUT_S = 600
COMPOSE_DOWN_TIMEOUT_S = 240
EXEC_TIMEOUT_S = 300
# The only variables of this process that docker compose sees (besides DOCKER_* and the like).
PASSED_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR")
TEST_PROJECT_PREFIX = "finance-assets-test-"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"


class EngineUnavailable(RuntimeError):
    """No Docker engine answers, and none could be installed or started here."""


def log(message: str) -> None:
    print(f"[docker-deploy {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(
    argv: Sequence[str | os.PathLike],
    *,
    check: bool = True,
    capture: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    quiet: bool = False,
    **kwargs,
) -> subprocess.CompletedProcess:
    """Run a command; arguments are logged, so they must never hold a secret."""
    argv = [str(a) for a in argv]
    if not quiet:
        log("$ " + " ".join(argv))
    if capture:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
    result = subprocess.run(argv, env=env, timeout=timeout, text=True, **kwargs)
    if check and result.returncode != 0:
        detail = (result.stderr or "")[-4000:] if capture else ""
        raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, detail)
    return result


def succeeds(argv: Sequence[str], timeout: float = 30, env: dict[str, str] | None = None) -> bool:
    try:
        return (
            subprocess.run(
                [str(a) for a in argv],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                env=env,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """An exclusive lock shared by every test process on this machine."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- Debian


def _debian_sources() -> list[tuple[str, str]]:
    """(URI, suite) pairs of this machine's apt sources (one-line and deb822 formats)."""
    pairs: list[tuple[str, str]] = []
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (m[1].lower(), m[2].split())
                    for m in re.finditer(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE)
                )
                for uri in fields.get("uris", []):
                    for suite in fields.get("suites", []):
                        pairs.append((uri, suite))
        elif path.suffix == ".list":
            for line in text.splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    pairs.append((parts[1], parts[2]))
    return pairs


def debian_mirrors() -> tuple[str, str]:
    """The Debian mirror and security mirror: FINANCE_DEBIAN_MIRROR(_SECURITY), else apt's."""
    mirror = os.environ.get("FINANCE_DEBIAN_MIRROR")
    security = os.environ.get("FINANCE_DEBIAN_SECURITY_MIRROR")
    for uri, suite in _debian_sources():
        if suite.endswith("-security"):
            security = security or uri
        elif uri.startswith("http"):
            mirror = mirror or uri
    return (mirror or DEFAULT_MIRROR).rstrip("/"), (security or DEFAULT_SECURITY_MIRROR).rstrip("/")


def apt_install(*packages: str) -> None:
    """Install Debian packages (as root), refreshing the package lists once if needed."""
    if not is_root() or not shutil.which("apt-get"):
        raise EngineUnavailable(
            f"{', '.join(packages)} missing and this is not root on Debian: install them first"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if run(install, check=False, env=env, capture=True).returncode != 0:
        run(["apt-get", "update"], env=env, capture=True)
        result = run(install, env=env, capture=True, check=False)
        if result.returncode != 0:
            raise EngineUnavailable(
                f"apt-get could not install {', '.join(packages)}:\n"
                + (result.stderr or "")[-2000:]
            )


def _apt_private(root: Path, suite: str) -> list[str]:
    """apt-get options for lists and cache of its own under root, for one Debian suite."""
    mirror, _ = debian_mirrors()
    (root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (root / "sources.list").write_text(f"deb {mirror} {suite} main\n")
    return [
        "-o",
        f"Dir::Etc::SourceList={root / 'sources.list'}",
        "-o",
        "Dir::Etc::SourceParts=/dev/null",
        "-o",
        f"Dir::State::Lists={root / 'lists'}",
        "-o",
        f"Dir::Cache={root / 'cache'}",
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Debug::NoLocking=1",
    ]


def debian_plugin(name: str) -> Path:
    """The binary of Debian's docker-compose or docker-buildx package, downloaded, not installed."""
    target = CACHE / "bin" / name
    if target.exists():
        return target
    with cache_lock("plugins"):
        if target.exists():
            return target
        if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
            raise RuntimeError(f"docker {name.removeprefix('docker-')} (v2) is not installed")
        work = CACHE / "debian-plugins"
        options = _apt_private(work, PLUGINS_SUITE)
        run(["apt-get", *options, "update"], capture=True)
        debs = work / "debs"
        shutil.rmtree(debs, ignore_errors=True)
        debs.mkdir(parents=True)
        run(["apt-get", *options, "download", PLUGINS[name]], cwd=debs, capture=True)
        (deb,) = debs.glob("*.deb")
        extract = work / "extract"
        shutil.rmtree(extract, ignore_errors=True)
        run(["dpkg-deb", "-x", deb, extract], capture=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(extract / "usr/libexec/docker/cli-plugins" / name, target)
        shutil.rmtree(debs, ignore_errors=True)
        shutil.rmtree(extract, ignore_errors=True)
        log(f"{name} from Debian {PLUGINS_SUITE} ({deb.name}) is {target}")
    return target


# --------------------------------------------------------------------------- engine


@dataclass
class Engine:
    """A Docker engine that answers; started here (and stopped by :meth:`stop`) if needed."""

    docker: str = "docker"
    process: subprocess.Popen | None = None
    log_path: Path = field(default_factory=lambda: CACHE / "dockerd.log")

    def answers(self) -> bool:
        return succeeds([self.docker, "version", "--format", "{{.Server.Version}}"], timeout=20)

    def start(self) -> Engine:
        with cache_lock("engine"):
            if not (shutil.which("docker") and shutil.which("dockerd")) and not self.answers():
                log("installing Debian's docker.io")
                apt_install("docker.io")
            self.docker = shutil.which("docker") or "docker"
            if self.answers():
                log(f"using the Docker engine that answers ({self.server_version()})")
                return self
            if not is_root():
                raise EngineUnavailable("no Docker engine answers, and only root may start one")
            dockerd = shutil.which("dockerd")
            if not dockerd:
                raise EngineUnavailable("no Docker engine answers and there is no dockerd")
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log(f"starting dockerd (log: {self.log_path})")
            with open(self.log_path, "ab") as out:
                self.process = subprocess.Popen(
                    [dockerd], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
            while not self.answers():
                if self.process.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    self.process = None
                    raise EngineUnavailable(f"dockerd exited at start:\n{tail}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise EngineUnavailable(f"dockerd did not answer in {ENGINE_START_TIMEOUT_S}s")
                time.sleep(0.5)
            log(f"dockerd {self.server_version()} answers (pid {self.process.pid})")
            return self

    def server_version(self) -> str:
        result = run(
            [self.docker, "version", "--format", "{{.Server.Version}}"],
            capture=True,
            check=False,
            quiet=True,
        )
        return (result.stdout or "").strip() or "unknown"

    def stop(self) -> None:
        """Stop dockerd if this object started it; an engine found running is left alone."""
        if self.process is None:
            return
        log(f"stopping the dockerd started here (pid {self.process.pid})")
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    # ----------------------------------------------------------------- tools

    def compose_command(self) -> list[str]:
        """Docker Compose v2: the plugin, a v2 docker-compose on PATH, or Debian's binary."""
        if succeeds([self.docker, "compose", "version"]):
            return [self.docker, "compose"]
        standalone = shutil.which("docker-compose")
        if standalone:
            version = run([standalone, "version"], capture=True, check=False, quiet=True).stdout
            if re.search(r"version v?2\.", version or ""):
                return [standalone]
        return [str(debian_plugin("docker-compose"))]

    def build_command(self) -> list[str]:
        """A BuildKit build (the Dockerfiles use secret mounts): buildx, plugin or Debian's."""
        if succeeds([self.docker, "buildx", "version"]):
            return [self.docker, "buildx", "build"]
        return [str(debian_plugin("docker-buildx")), "build"]

    def image_exists(self, image: str) -> bool:
        return succeeds([self.docker, "image", "inspect", image])

    def image_label(self, image: str, label: str) -> str | None:
        template = f'{{{{ index .Config.Labels "{label}" }}}}'
        result = run(
            [self.docker, "image", "inspect", "--format", template, image],
            capture=True,
            check=False,
            quiet=True,
        )
        value = (result.stdout or "").strip()
        return value if result.returncode == 0 and value not in ("", "<no value>") else None


# --------------------------------------------------------------------------- images


def dockerfile_default_base() -> str:
    """The default of the PYTHON_IMAGE build argument in docker/Dockerfile."""
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "docker/Dockerfile has no ARG PYTHON_IMAGE=<default>"
    return match[1]


def pip_ca_bundle() -> Path | None:
    """The CA bundle pip is configured with here: FINANCE_DOCKER_EXTRA_CA, PIP_CERT, pip config."""
    for name in ("FINANCE_DOCKER_EXTRA_CA", "PIP_CERT"):
        if os.environ.get(name):
            return Path(os.environ[name])
    result = run(
        [sys.executable, "-m", "pip", "config", "list"], capture=True, check=False, quiet=True
    )
    for line in (result.stdout or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".cert"):
            path = Path(value.strip().strip("'\""))
            if path.is_file():
                return path
    return None


def _base_recipe(mirror: str, security: str) -> str:
    text = json.dumps(
        [BASE_SUITE, BASE_PACKAGES, BASE_SETUP, BASE_CHANGES, mirror, security], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_local_base(engine: Engine) -> str:
    """Debian bookworm and its Python 3.11 as a base image: debootstrap, then docker import."""
    mirror, security = debian_mirrors()
    recipe = _base_recipe(mirror, security)
    with cache_lock("base"):
        if engine.image_label(LOCAL_BASE_IMAGE, RECIPE_LABEL) == recipe:
            log(f"reusing the local base image {LOCAL_BASE_IMAGE}")
            return LOCAL_BASE_IMAGE
        if not shutil.which("debootstrap"):
            log("installing Debian's debootstrap")
            apt_install("debootstrap")
        if not is_root():
            raise RuntimeError("building the local base image (debootstrap, chroot) needs root")
        started = time.monotonic()
        root = CACHE / "base-rootfs"
        shutil.rmtree(root, ignore_errors=True)
        try:
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    BASE_SUITE,
                    root,
                    mirror,
                ],
                capture=True,
            )
            setup = BASE_SETUP.format(mirror=mirror, security=security, suite=BASE_SUITE)
            run(["chroot", root, "/bin/sh", "-s"], input=setup, capture=True)
            changes = [*BASE_CHANGES, f"LABEL {RECIPE_LABEL}={recipe}", f"LABEL {BUILT_BY_LABEL}"]
            tar = subprocess.Popen(
                [
                    "tar",
                    "--numeric-owner",
                    "-C",
                    str(root),
                    "--exclude=./dev/*",
                    "--exclude=./proc/*",
                    "--exclude=./sys/*",
                    "-c",
                    ".",
                ],
                stdout=subprocess.PIPE,
            )
            argv = [engine.docker, "import"]
            for change in changes:
                argv += ["--change", change]
            run([*argv, "-", LOCAL_BASE_IMAGE], stdin=tar.stdout, capture=True)
            tar.stdout.close()
            if tar.wait() != 0:
                raise RuntimeError("tar of the base root file system failed")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        took = time.monotonic() - started
        log(f"built {LOCAL_BASE_IMAGE} from Debian {BASE_SUITE} packages in {took:.0f}s")
    return LOCAL_BASE_IMAGE


def base_image(engine: Engine) -> str:
    """FINANCE_DOCKER_BASE_IMAGE, or the Dockerfile's default if present or pulled, or local."""
    if os.environ.get("FINANCE_DOCKER_BASE_IMAGE"):
        return os.environ["FINANCE_DOCKER_BASE_IMAGE"]
    default = dockerfile_default_base()
    if engine.image_exists(default):
        return default
    try:
        pulled = run(
            [engine.docker, "pull", "--quiet", default],
            check=False,
            capture=True,
            timeout=PULL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pulled = subprocess.CompletedProcess([], 1, "", f"no answer in {PULL_TIMEOUT_S}s")
    if pulled.returncode == 0:
        return default
    reason = (pulled.stderr or "").strip().splitlines()
    log(
        f"cannot pull {default} ({reason[-1] if reason else 'no reason given'}); "
        "using a base made from Debian packages"
    )
    return build_local_base(engine)


@dataclass
class Images:
    base: str
    product: str = PRODUCT_IMAGE
    postgres: str = POSTGRES_IMAGE
    s3: str = S3_IMAGE
    seconds: dict[str, float] = field(default_factory=dict)


def build_images(engine: Engine, *, test_images: bool = True) -> Images:
    """The product image (docker/Dockerfile) and the two test stand-ins, on one base."""
    images = Images(base=base_image(engine))
    build = engine.build_command()
    ca = pip_ca_bundle()
    secret = ["--secret", f"id=extra_ca,src={ca}"] if ca else []
    logs = CACHE / "build-logs"
    logs.mkdir(parents=True, exist_ok=True)
    product_arg = ["--build-arg", f"PYTHON_IMAGE={images.base}"]
    jobs = [("product", images.product, DOCKERFILE, REPO, product_arg)]
    if test_images:
        base_arg = ["--build-arg", f"BASE_IMAGE={images.base}"]
        jobs += [
            ("postgres", images.postgres, TEST_DIR / "postgres.Dockerfile", TEST_DIR, base_arg),
            ("s3", images.s3, TEST_DIR / "s3.Dockerfile", TEST_DIR, base_arg),
        ]
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    for name, tag, dockerfile, context, args in jobs:
        started = time.monotonic()
        log_file = logs / f"{name}.log"
        argv = [*build, "--progress=plain", "-f", dockerfile, *args, *secret]
        argv += ["--label", BUILT_BY_LABEL, "-t", tag, context]
        with open(log_file, "w") as out:
            result = run(argv, check=False, env=env, stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            tail = log_file.read_text(errors="replace")[-6000:]
            raise RuntimeError(f"building {tag} failed (full log: {log_file}):\n{tail}")
        images.seconds[name] = time.monotonic() - started
        log(f"built {tag} in {images.seconds[name]:.0f}s")
    # The images these tags pointed to before (a rebuild after a change) are untagged now.
    run(
        [engine.docker, "image", "prune", "--force", "--filter", f"label={BUILT_BY_LABEL}"],
        capture=True,
        check=False,
        quiet=True,
    )
    return images


# --------------------------------------------------------------------------- stack


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    """The compose deployment with the test override, under a project name of its own."""

    engine: Engine
    project: str = field(default_factory=lambda: f"{TEST_PROJECT_PREFIX}{os.getpid()}")
    files: tuple[Path, ...] = (COMPOSE_FILE, TEST_COMPOSE_FILE)
    webserver_port: int = field(default_factory=free_port)
    _secrets: dict[str, str] = field(default_factory=dict, repr=False)
    _ports: dict[str, str] = field(default_factory=dict)
    _env_file: Path | None = None

    def __post_init__(self) -> None:
        self.compose = self.engine.compose_command()
        self._secrets = {
            "DAGSTER_POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            "AWS_ACCESS_KEY_ID": "test" + secrets.token_hex(8),
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(24),
        }
        self._ports = {
            "DAGSTER_WEBSERVER_PORT": str(self.webserver_port),
            "MINIO_API_PORT": str(free_port()),
            "MINIO_CONSOLE_PORT": str(free_port()),
        }
        # An empty env file, so that a developer's docker/.env does not leak into the test.
        handle, name = tempfile.mkstemp(prefix="finance-assets-compose-", suffix=".env")
        os.close(handle)
        self._env_file = Path(name)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"

    def env(self) -> dict[str, str]:
        """What compose interpolates: the generated secrets and ports, and nothing else of this
        process's environment (a FINANCE_* or AWS_* variable here must not reach the stack)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k in PASSED_ENV or k.startswith(("DOCKER_", "COMPOSE_", "BUILDKIT_"))
        }
        env.update(self._secrets)
        env.update(self._ports)
        return env

    def secret_values(self) -> list[str]:
        return list(self._secrets.values())

    def compose_argv(self, *args: str) -> list[str]:
        argv = [*self.compose, "--project-name", self.project, "--env-file", str(self._env_file)]
        for path in self.files:
            argv += ["-f", str(path)]
        return [*argv, *args]

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run(self.compose_argv(*args), env=self.env(), **kwargs)

    def config(self) -> dict:
        """The merged configuration, as compose resolves it."""
        text = self.run("config", "--format", "json", capture=True, quiet=True).stdout
        return json.loads(text)

    def up(self) -> None:
        # Returns once every dependency condition holds (healthchecks, minio-init done);
        # those are bounded by their retries, the timeout is a backstop.
        self.run("up", "--detach", "--no-build", capture=True, timeout=COMPOSE_UP_TIMEOUT_S)

    def down(self, volumes: bool = True) -> None:
        args = ["down", "--remove-orphans", "--timeout", "30"]
        if volumes:
            args.append("--volumes")
        try:
            self.run(*args, check=False, capture=True, timeout=COMPOSE_DOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log(f"compose down did not finish in {COMPOSE_DOWN_TIMEOUT_S}s")

    def exec(self, service: str, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("timeout", EXEC_TIMEOUT_S)
        return self.run("exec", "-T", service, *argv, **kwargs)

    def logs(self) -> str:
        """The last lines of each service's log (more for the Dagster ones), secrets masked."""
        parts = []
        for services, tail in (
            (("user_code", "daemon", "webserver"), 60),
            (("postgres", "minio", "minio-init"), 15),
        ):
            result = self.run(
                "logs",
                "--no-color",
                "--tail",
                str(tail),
                *services,
                capture=True,
                check=False,
                quiet=True,
            )
            parts.append((result.stdout or "") + (result.stderr or ""))
        text = ANSI_ESCAPE.sub("", "\n".join(parts))
        for value in self.secret_values():
            text = text.replace(value, "***")
        return text

    def ps(self) -> str:
        result = self.run("ps", "--all", capture=True, check=False, quiet=True)
        return result.stdout or result.stderr or ""

    def close(self) -> None:
        self.down(volumes=True)
        if self._env_file is not None:
            self._env_file.unlink(missing_ok=True)


def remove_abandoned_stacks(engine: Engine) -> None:
    """Test stacks whose test process is gone (killed before its teardown): down, volumes too."""
    result = run(
        [
            engine.docker,
            "ps",
            "--all",
            "--format",
            '{{ .Label "com.docker.compose.project" }}',
        ],
        capture=True,
        check=False,
        quiet=True,
    )
    projects = {p for p in (result.stdout or "").split() if p.startswith(TEST_PROJECT_PREFIX)}
    for project in sorted(projects):
        pid = project.removeprefix(TEST_PROJECT_PREFIX)
        if pid.isdigit() and not _alive(int(pid)):
            log(f"removing the abandoned test stack {project}")
            Stack(engine, project=project).close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- GraphQL

# Loopback only: never through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class GraphQLError(RuntimeError):
    pass


@dataclass
class Dagster:
    """The webserver's GraphQL API."""

    url: str

    def query(self, text: str, variables: dict | None = None, timeout: float = 30) -> dict:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=timeout) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise GraphQLError(json.dumps(payload["errors"])[:2000])
        return payload["data"]

    def answers(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/server_info", timeout=5) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False


def wait_for(what: str, probe, timeout: float, interval: float = 2.0, on_timeout=None):
    """Poll probe() until it returns something truthy; its last error is kept for the message."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except (OSError, GraphQLError, ValueError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            extra = on_timeout() if on_timeout else ""
            raise TimeoutError(
                f"{what}: not within {timeout:.0f}s"
                + (f" (last error: {last_error})" if last_error else "")
                + (f"\n{extra}" if extra else "")
            )
        time.sleep(interval)


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finance_assets_tests.support.docker_deploy")
    parser.add_argument("action", choices=["images", "up", "down"])
    parser.add_argument("--project", default="finance-assets-dev")
    args = parser.parse_args(argv)
    engine = Engine().start()
    if args.action == "down":
        Stack(engine, project=args.project).close()
        return 0
    images = build_images(engine)
    took = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in images.seconds.items())
    log(f"images on {images.base}: {took}")
    if args.action == "up":
        stack = Stack(engine, project=args.project)
        stack.up()
        log(
            f"up: {stack.url} (project {stack.project}); stop with: "
            f"python -m finance_assets_tests.support.docker_deploy down --project {stack.project}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
