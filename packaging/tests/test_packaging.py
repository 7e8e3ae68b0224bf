"""Checks the packaging files against the server they package: every path they copy or
mount exists, every flag and setting they pass is accepted by the built binary (through
`fieldcase-server config`, which loads and checks settings without serving), the container
builds with the README's command, and the systemd unit passes `systemd-analyze verify`.
No container engine runs here, so this is what can be proved without one."""

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
BINARY = Path(os.environ.get("FIELDCASE_SERVER_BIN", ROOT / "target" / "debug" / "fieldcase-server"))
# In-image paths and the repository files mounted or copied there.
IMAGE_PATHS = {"/etc/fieldcase/server.toml": PACKAGING / "fieldcase-server.toml"}


def run_config(args, env=None, tmp=None):
    """Runs `fieldcase-server config` with serve's arguments `args` (in-image paths mapped to
    the repository's files, the data folder to a temporary one); returns the printed settings."""
    mapped = [str(IMAGE_PATHS.get(a, a)) for a in args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDCASE_")}
    full_env.update(env or {})
    if tmp is not None:
        mapped += ["--data", str(tmp)]
    out = subprocess.run(
        [str(BINARY), "config", *mapped], capture_output=True, text=True, env=full_env, timeout=60
    )
    assert out.returncode == 0, f"config {mapped} refused: {out.stderr}"
    return out.stdout


def serve_args(command):
    assert command[0] == "serve", command
    return command[1:]


def readme_build_command():
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^cargo run --release -p (\S+) -- serve", text, re.M)
    assert m, "README's first command runs the server with cargo run --release"
    return f"cargo build --release -p {m.group(1)}"


def test_sample_settings_load_and_hide_nothing_secret(tmp_path):
    printed = run_config(["--config", str(PACKAGING / "fieldcase-server.toml")], tmp=tmp_path)
    assert 'log_format = "json"' in printed
    assert "shutdown_grace_secs = 20" in printed
    printed = run_config(
        ["--config", str(PACKAGING / "fieldcase-server.toml")],
        env={"FIELDCASE_DATABASE_URL": "postgres://fc:s3cret@db/fc"},
        tmp=tmp_path,
    )
    assert "s3cret" not in printed and "fc:***@db" in printed


def test_containerfile_builds_with_the_readme_command_and_runs_valid_arguments(tmp_path):
    lines = (PACKAGING / "Containerfile").read_text().splitlines()
    runs = [l[len("RUN "):].strip() for l in lines if l.startswith("RUN cargo")]
    assert runs, "the image builds with cargo"
    build = readme_build_command()
    assert all(r.startswith(build) for r in runs), (runs, build)
    workdir = next(l.split()[1] for l in lines if l.startswith("WORKDIR"))
    for l in lines:
        if l.startswith("COPY") and "--from" not in l:
            src = l.split()[1]
            assert (ROOT / src).exists(), f"COPY source {src} missing"
        if l.startswith("COPY --from=build"):
            src = l.split()[2]
            # The built binary is where cargo puts a release build of the package's binary.
            rel = Path(src).relative_to(workdir)
            assert rel.parts[:2] == ("target", "release"), src
            bin_name = rel.name
            cargo = (ROOT / "sync-server" / "Cargo.toml").read_text()
            assert f'name = "{bin_name}"' in cargo, bin_name
        if l.startswith("COPY packaging/"):
            src, dest = l.split()[1:3]
            assert IMAGE_PATHS.get(dest) == ROOT / src, (src, dest)
    entry = next(l for l in lines if l.startswith("ENTRYPOINT"))
    assert "/usr/local/bin/fieldcase-server" in entry
    cmd = next(l for l in lines if l.startswith("CMD"))
    command = yaml.safe_load(cmd[len("CMD"):].strip())
    run_config(serve_args(command), tmp=tmp_path)


def test_compose_paths_exist_and_the_server_accepts_its_command_and_environment(tmp_path):
    compose = yaml.safe_load((PACKAGING / "compose.yaml").read_text())
    services = compose["services"]
    assert {"fieldcase", "postgres", "objects"} <= set(services)
    server = services["fieldcase"]
    context = (PACKAGING / server["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / server["build"]["dockerfile"]).is_file()
    for volume in server["volumes"]:
        src, dest = volume.split(":")[:2]
        if src.startswith("."):
            path = (PACKAGING / src).resolve()
            assert path.exists(), f"mount source {src} missing"
            assert IMAGE_PATHS.get(dest) == path, (src, dest)
    env = {k: str(v) for k, v in server["environment"].items()}
    printed = run_config(serve_args(server["command"]), env=env, tmp=tmp_path)
    assert "postgres://fieldcase:***@postgres:5432/fieldcase" in printed
    assert 'log_format = "json"' in printed
    # Every FIELDCASE_ variable the file sets is one the server reads: a flag's variable
    # (named in `serve --help`) or FIELDCASE_<SECTION>_<KEY> of a settings key.
    known = subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True).stdout
    settings = tomllib.loads(printed)
    keys = {f"FIELDCASE_{section}_{key}".upper() for section, table in settings.items()
            for key in table}
    keys |= {f"FIELDCASE_SERVER_{k}" for k in ["DATA", "DATABASE_URL", "TLS_CERT", "TLS_KEY", "KEY_DIR"]}
    for name in env:
        if name.startswith("FIELDCASE_"):
            assert f"[env: {name}" in known or name in keys, f"{name} is read by nothing"


def test_systemd_unit_verifies_and_runs_valid_arguments(tmp_path):
    unit = (PACKAGING / "systemd" / "fieldcase-server.service").read_text()
    exec_start = next(l for l in unit.splitlines() if l.startswith("ExecStart="))
    argv = shlex.split(exec_start[len("ExecStart="):])
    assert argv[0] == "/usr/local/bin/fieldcase-server"
    run_config(serve_args(argv[1:]), tmp=tmp_path)
    for needed in ["NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes",
                   "StateDirectory=fieldcase", "KillSignal=SIGTERM"]:
        assert needed in unit, needed
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (scripts/ensure-tools.sh installs systemd)"
    # verify checks that ExecStart's program exists: point it at the built binary.
    copy = tmp_path / "fieldcase-server.service"
    copy.write_text(unit.replace(exec_start, exec_start.replace(argv[0], str(BINARY), 1), 1))
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    problems = [l for l in (out.stdout + out.stderr).splitlines()
                if "fieldcase-server.service" in l]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr
