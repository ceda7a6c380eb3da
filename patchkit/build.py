"""`patchkit build`: configure and build a kernel tree, out of tree, in a container.

    build(source, config="minimal", fragments=[...], runtime="auto") -> BuildResult

Configuration: allnoconfig, then configs/minimal.config (+ configs/<flavour>.config,
+ extra fragments, last wins) merged by the tree's own merge_config.sh run in
the build directory (the source may be read-only), then olddefconfig; every
fragment value is checked against the final .config before anything compiles.

Every build (also a failed one) leaves metadata.json in the build directory,
in tuxmake's shape: groups "build" (targets, kconfig, kconfig_add, jobs,
runtime, environment, reproducer_cmdline as a list), "results" (status,
targets.<t>.status/duration, artifacts, errors and warnings as tuxmake's
counts plus error_lines / warning_lines), "compiler", "git", "source",
"runtime", "uname", and patchkit's own "patchkit" group (inputs, paths,
reuse).  copy_artifacts() puts bzImage, config, System.map,
modules.tar.xz, build.log and metadata.json into a run's output folder.

The build directory is keyed by (tree, commit [+ hash of uncommitted changes],
config hash) under paths.builds_dir(), so switching commits never rebuilds
from scratch twice and ccache (paths.cache_dir()/ccache) carries objects
across keys.  Stamps are written only after a step succeeded: an interrupted
or failed build (Ctrl-C, full disk) simply continues next time, and a build
whose inputs and runtime are unchanged is reused without running make.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from patchkit import git, kconfig, paths, proc, runtimes, ui
from patchkit.pipeline import FAIL, PASS, SKIP
from patchkit.errors import InfraError, UserError

SRC, OUT, CCACHE = "/src", "/build", "/ccache"  # where a container sees them
NICE = 10  # builds share the machine with everything else
METADATA_VERSION = 1


class BuildFailed(UserError):
    """The tree did not compile (or configure): its own fault, not the machine's."""

    def __init__(self, msg: str, *, log: Path, location: str | None = None,
                 errors: list[str] | None = None, hint: str | None = None,
                 build_dir: Path | None = None, metadata: dict | None = None):
        super().__init__(msg, hint=hint)
        self.log = log
        self.location = location
        self.errors = errors or []
        self.build_dir = build_dir   # where metadata.json of the failed build is
        self.metadata = metadata


@dataclass
class BuildResult:
    kernel: Path              # bzImage
    build_dir: Path           # O= dir
    modules_dir: Path | None  # INSTALL_MOD_PATH root when modules were built
    metadata: dict            # also written to build_dir/metadata.json (tuxmake's shape)
    log: Path

    @property
    def warnings(self) -> int:
        return self.metadata["results"]["warnings"]

    @property
    def seconds(self) -> float:
        return sum(t["duration"] for t in self.metadata["results"]["targets"].values())

    @property
    def compiler(self) -> str:
        return self.metadata["compiler"]["version_full"]

    @property
    def config_hash(self) -> str:
        return self.metadata["patchkit"]["inputs"]["config_hash"]

    @property
    def reused(self) -> bool:
        return bool(self.metadata["patchkit"].get("reused"))


# -- pure helpers (unit-tested) -----------------------------------------------

def flavours() -> list[str]:
    return sorted(p.stem for p in paths.CONFIGS.glob("*.config"))


def flavour_fragments(config: str, configs_dir: Path | None = None) -> list[Path]:
    """minimal -> [minimal.config]; any other flavour X -> [minimal.config, X.config]."""
    configs_dir = configs_dir or paths.CONFIGS
    known = sorted(p.stem for p in configs_dir.glob("*.config"))
    if config not in known:
        raise UserError(f"unknown config flavour {config!r}",
                        hint=f"known flavours: {', '.join(known)} (files in {configs_dir})")
    names = ["minimal"] if config == "minimal" else ["minimal", config]
    return [configs_dir / f"{n}.config" for n in names]


def build_key(tree: str, commit: str, dirty: str | None, config: str, config_hash: str) -> str:
    """Directory name of one build: readable, and unique per (tree, commit, config)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", tree)
    name = f"{safe}-{commit[:12]}"
    if dirty:
        name += f"-dirty{dirty[:8]}"
    return f"{name}-{re.sub(r'[^A-Za-z0-9._-]+', '_', config)}-{config_hash[:10]}"


def tree_name(source: Path) -> str:
    """basename plus a short hash of the absolute path: two checkouts called
    'linux' must not share a build directory."""
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:6]
    return f"{source.resolve().name}.{digest}"


def make_argv(src: str, out: str, targets: list[str], *, jobs: int, extra: list[str] = ()) -> list[str]:
    return ["nice", "-n", str(NICE), "make", "-C", src, f"O={out}", f"-j{jobs}", *extra, *targets]


def merge_argv(src: str, out: str, fragments: list[str]) -> list[str]:
    """merge_config.sh -m: merge into OUT/.config only; olddefconfig runs next.
    It writes temporary files into its cwd, so it must run in OUT."""
    return [f"{src}/scripts/kconfig/merge_config.sh", "-m", "-O", out, f"{out}/.config", *fragments]


def build_env(path: str, ccache_dir: str, src: str, timestamp: str) -> dict[str, str]:
    return {
        "PATH": path,
        "CCACHE_DIR": ccache_dir,
        "CCACHE_BASEDIR": src,
        # depend mode: a miss compiles once and takes the headers from the
        # compiler's -MMD output instead of running the preprocessor first.
        # Measured here (cold minimal build, host, -j2): 4:09 in the default
        # mode, 3:08 in depend mode, 3:00 without ccache; warm hits the same.
        "CCACHE_DEPEND": "1",
        # the same kernel whoever builds it, and ccache hits for init/version.o
        "KBUILD_BUILD_USER": "patchkit",
        "KBUILD_BUILD_HOST": "patchkit",
        "KBUILD_BUILD_TIMESTAMP": timestamp,
        # set (even empty) keeps setlocalversion from appending '+' for a git tree
        "LOCALVERSION": "",
    }


def reproducer(source: Path, *, config: str, fragments: list[Path], runtime: str,
               modules: bool, jobs: int, build_root: Path | None, extmods: list[Path] = ()) -> str:
    return shlex.join(reproducer_argv(source, config=config, fragments=fragments, runtime=runtime,
                                      modules=modules, jobs=jobs, build_root=build_root, extmods=extmods))


def reproducer_argv(source: Path, *, config: str, fragments: list[Path], runtime: str,
                    modules: bool, jobs: int, build_root: Path | None, extmods: list[Path] = ()) -> list[str]:
    argv = ["patchkit", "build", "--config", config]
    for f in fragments:
        argv += ["--fragment", str(Path(f).resolve())]
    argv += ["--runtime", runtime, "--jobs", str(jobs)]
    if modules:
        argv.append("--modules")
    for m in extmods:
        argv += ["--extmod", str(Path(m).resolve())]
    if build_root:
        argv += ["--build-root", str(Path(build_root).resolve())]
    argv.append(str(source))
    return argv


_ERROR_AT = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:\d+:)?\s+(?:fatal )?error: ")
_LINK_ERROR = re.compile(r"(undefined reference to|multiple definition of|^ld: .*error)")
_MAKE_ERROR = re.compile(r"^make(\[\d+\])?: \*\*\* ")
_WARNING = re.compile(r"^[^\s:][^:]*:\d+:(?:\d+:)?\s+warning: ", re.M)


def first_error(log_text: str, *, src: str = SRC, host_src: str | None = None,
                context: int = 8) -> tuple[str | None, list[str]]:
    """(file:line or None, the first error lines) of a failed make log.

    Container paths under src are shown as host paths so they can be opened.
    """
    lines = log_text.splitlines()

    def host(s: str) -> str:
        if host_src:
            return s.replace(f"{src}/", f"{host_src}/")
        return s

    for i, line in enumerate(lines):
        m = _ERROR_AT.match(line)
        if m:
            file = host(m.group("file"))
            return f"{file}:{m.group('line')}", [host(x) for x in lines[i:i + context]]
    for pattern in (_LINK_ERROR, _MAKE_ERROR):
        for i, line in enumerate(lines):
            if pattern.search(line):
                start = max(0, i - 2) if pattern is _MAKE_ERROR else i
                return None, [host(x) for x in lines[start:start + context]]
    return None, [host(x) for x in lines[-context:]]


def count_warnings(log_text: str) -> int:
    return len(_WARNING.findall(log_text))


_ERROR_LINE = re.compile(r"^[^\s:][^:]*:\d+:(?:\d+:)?\s+(?:fatal )?error: |^make(\[\d+\])?: \*\*\* "
                         r"|undefined reference to|multiple definition of|^ld: .*error", re.M)


def log_findings(log_text: str, limit: int = 200) -> tuple[list[str], list[str]]:
    """(error lines, warning lines) of a build log, each list at most limit long."""
    errors, warnings = [], []
    for line in log_text.splitlines():
        if _ERROR_LINE.search(line):
            errors.append(line)
        elif _WARNING.match(line):
            warnings.append(line)
    return errors[:limit], warnings[:limit]


def compiler_info(version_text: str) -> dict:
    """tuxmake's compiler group from CONFIG_CC_VERSION_TEXT ('gcc (Debian 12.2.0-14) 12.2.0')."""
    text = version_text.strip().strip('"')
    name = "clang" if "clang" in text else "gcc" if ("gcc" in text or "GCC" in text) else (
        text.split()[0] if text else "unknown")
    versions = re.findall(r"\b(\d+(?:\.\d+)*)\b", text)
    return {"name": name, "version": versions[-1] if versions else "", "version_full": text}


def kernelversion(makefile_text: str) -> str | None:
    """`make kernelversion` without running make: VERSION.PATCHLEVEL.SUBLEVEL EXTRAVERSION."""
    values = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)", makefile_text, re.M))
    if "VERSION" not in values or "PATCHLEVEL" not in values:
        return None
    out = values["VERSION"]
    if values["PATCHLEVEL"]:
        out += f".{values['PATCHLEVEL']}" + (f".{values['SUBLEVEL']}" if values.get("SUBLEVEL") else "")
    return out + values.get("EXTRAVERSION", "")


# the build targets in tuxmake's names, in the order they run
TARGETS = ("config", "kernel", "modules")


def tuxmake_metadata(*, status: str, targets: dict[str, dict], environment: dict[str, str],
                     config: str, fragments: list[str], jobs: int, runtime: str, image: str | None,
                     image_id: str | None, reproducer: list[str], log_text: str, compiler_text: str,
                     git: dict, kernel_version: str | None, artifacts: dict[str, list[str]],
                     modules: list[str], extra: dict) -> dict:
    """metadata.json in tuxmake's shape (groups of key/value pairs) plus a
    "patchkit" group.  targets: name -> {"status": PASS|FAIL|SKIP, "duration": s}."""
    errors, warnings = log_findings(log_text)
    uname = os.uname()
    return {
        "build": {
            "targets": [t for t in TARGETS if t in targets],
            "target_arch": "x86_64",
            "toolchain": compiler_info(compiler_text)["name"] if compiler_text else "gcc",
            "wrapper": "ccache",
            "environment": dict(environment),
            "kconfig": config,
            "kconfig_add": list(fragments),
            "jobs": jobs,
            "runtime": runtime,
            "verbose": False,
            "reproducer_cmdline": list(reproducer),
        },
        "results": {
            "status": status,
            "targets": {t: targets[t] for t in TARGETS if t in targets},
            "artifacts": artifacts,
            "errors": len(errors),
            "warnings": count_warnings(log_text),
            "error_lines": errors,
            "warning_lines": warnings,
            "duration": {"build": round(sum(t["duration"] for t in targets.values()), 1)},
        },
        "compiler": compiler_info(compiler_text) if compiler_text else {},
        "git": git,
        "source": {"kernelversion": kernel_version},
        "runtime": {"name": runtime, "image": image, "image_id": image_id},
        "uname": {"kernel": uname.sysname, "kernel_release": uname.release, "machine": uname.machine},
        "artifacts": {"modules": modules},
        "patchkit": {"metadata_version": METADATA_VERSION, **extra},
    }


def git_info(source: Path, commit: str) -> dict:
    """tuxmake's git group: describe, branch, commit, origin URL."""
    def one(*args):
        from patchkit import git

        res = git.run(source, *args, check=False)
        return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None
    return {"git_describe": one("describe", "--tags", "--always", "--dirty"),
            "git_branch": one("rev-parse", "--abbrev-ref", "HEAD"),
            "git_commit": commit,
            "git_url": one("config", "--get", "remote.origin.url")}


# What a run's output folder gets (tuxmake's artifact names): name -> path in the build dir.
ARTIFACTS = {"bzImage": "arch/x86/boot/bzImage", "config": ".config", "System.map": "System.map"}


def artifacts_of(build_dir: Path) -> dict[str, list[str]]:
    """Per target, the artifacts a finished target left (tuxmake's results.artifacts)."""
    out = {}
    if (build_dir / ".config").exists():
        out["config"] = ["config"]
    kernel = [n for n in ("bzImage", "System.map") if (build_dir / ARTIFACTS[n]).exists()]
    if kernel:
        out["kernel"] = kernel
    if (build_dir / "modules-install").is_dir():
        out["modules"] = ["modules.tar.xz"]
    return out


def module_list(modules_dir: Path | None) -> list[str]:
    if not modules_dir or not Path(modules_dir).is_dir():
        return []
    return sorted(str(p.relative_to(modules_dir)) for p in Path(modules_dir).rglob("*.ko*"))


def copy_artifacts(build_dir: Path, dest: Path) -> list[Path]:
    """bzImage, config, System.map, modules.tar.xz, build.log and
    metadata.json of the build in build_dir, copied into dest (a run's
    output folder): what a tuxmake user finds there.  A failed build copies
    what it has (its log and metadata at least)."""
    import tarfile

    build_dir, dest = Path(build_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, rel in ARTIFACTS.items():
        src = build_dir / rel
        if src.is_file():
            shutil.copyfile(src, dest / name)
            copied.append(dest / name)
    log = build_dir / "build.log"
    if log.exists():
        shutil.copyfile(log.resolve(), dest / "build.log")
        copied.append(dest / "build.log")
    meta = build_dir / "metadata.json"
    if meta.is_file():
        shutil.copyfile(meta, dest / "metadata.json")
        copied.append(dest / "metadata.json")
    mods = build_dir / "modules-install"
    if mods.is_dir():
        tmp = dest / ".modules.tar.xz.tmp"
        with tarfile.open(tmp, "w:xz") as tar:
            for p in sorted(mods.rglob("*")):
                tar.add(p, arcname=str(p.relative_to(mods)), recursive=False)
        tmp.replace(dest / "modules.tar.xz")
        copied.append(dest / "modules.tar.xz")
    return copied


def extmod_hash(directory: Path) -> str:
    """Content hash of an external module's source directory (names and bytes)."""
    h = hashlib.sha256()
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(directory).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def reusable(meta: dict | None, inputs: dict, outputs: list[Path]) -> bool:
    """A finished build with the same inputs whose outputs are still there."""
    if not meta or "results" not in meta or "patchkit" not in meta:
        return False    # a metadata.json of an older patchkit: build again
    return bool(meta["results"].get("status") == PASS and meta["patchkit"].get("inputs") == inputs
                and all(p.exists() for p in outputs))


# -- the source tree ------------------------------------------------------------

def source_identity(source: Path) -> tuple[str, str | None, str]:
    """(HEAD commit, hash of uncommitted changes or None, commit date)."""
    if not (source / "Makefile").is_file() or not (source / "Kconfig").is_file():
        raise UserError(f"{source} is not a kernel source tree (no Makefile/Kconfig)")
    if not git.is_repo(source):
        raise UserError(f"{source} is not a git repository; patchkit keys builds by commit",
                        hint="use the pinned tree (patchkit tree) or `git init && git add -A && git commit`")
    commit = git.out(source, "rev-parse", "HEAD")
    date = git.out(source, "log", "-1", "--format=%cd",
                   "--date=format-local:%a %b %d %H:%M:%S UTC %Y", env={"TZ": "UTC"})
    diff = git.run(source, "diff", "HEAD", "--binary").stdout
    untracked = git.out(source, "ls-files", "--others", "--exclude-standard", "-z")
    names = sorted(n for n in untracked.split("\0") if n)
    if not diff and not names:
        return commit, None, date
    h = hashlib.sha256(diff.encode(errors="replace"))
    for name in names:
        h.update(b"\0" + name.encode())
        try:
            h.update((source / name).read_bytes())
        except OSError:
            pass
    return commit, h.hexdigest(), date


def check_clean_for_o(source: Path) -> None:
    for leftover in (".config", "include/config"):
        if (source / leftover).exists():
            raise UserError(
                f"{source} has an in-tree build ({leftover}); out-of-tree builds need a clean source",
                hint=f"make -C {source} mrproper")


# -- build ------------------------------------------------------------------------

@contextmanager
def _locked(build_dir: Path):
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ui.info("build", f"waiting for another build in {build_dir}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _check_disk(log: Path) -> None:
    text = proc.tail_of(log, 200)
    if "No space left on device" in text:
        raise _disk_full(OSError(errno.ENOSPC, "No space left on device", str(log)))


def build(source: Path, *, config: str = "minimal", fragments: list[Path] = (), runtime: str = "auto",
          modules: bool = False, jobs: int | None = None, build_root: Path | None = None,
          extmods: list[Path] = ()) -> BuildResult:
    """Configure (when needed), check every fragment value landed, build bzImage
    (and modules), write metadata.json; reuse a finished identical build."""
    return _build(source, config=config, fragments=fragments, runtime=runtime, modules=modules,
                  jobs=jobs, build_root=build_root, extmods=extmods)


def _disk_full(exc: OSError) -> InfraError:
    return InfraError(f"the disk is full: {exc.filename or exc}",
                      hint=f"free space under {paths.cache_dir()}; the next build continues where this one stopped")


def configure(source: Path, *, config: str = "minimal", fragments: list[Path] = (), runtime: str = "auto",
              jobs: int | None = None, build_root: Path | None = None) -> Path:
    """Only the configuration half of build(): returns the checked .config."""
    return _build(source, config=config, fragments=fragments, runtime=runtime, modules=False,
                  jobs=jobs, build_root=build_root, configure_only=True)


def _build(source: Path, *, config: str, fragments, runtime: str, modules: bool, jobs: int | None,
           build_root: Path | None, configure_only: bool = False, extmods: list[Path] = ()):
    try:
        with proc.sigterm_as_interrupt():
            return _build_or_configure(source, config=config, fragments=fragments, runtime=runtime,
                                       modules=modules, jobs=jobs, build_root=build_root,
                                       configure_only=configure_only, extmods=extmods)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise _disk_full(exc) from exc
        raise


def _build_or_configure(source: Path, *, config: str, fragments, runtime: str, modules: bool,
                        jobs: int | None, build_root: Path | None, configure_only: bool,
                        extmods: list[Path] = ()):
    start = time.monotonic()
    source = Path(source).resolve()
    jobs = jobs or os.cpu_count() or 1
    frag_paths = flavour_fragments(config) + [Path(f).resolve() for f in fragments]
    frag_texts = [kconfig.read_fragment(p) for p in frag_paths]
    wanted = kconfig.merge(frag_texts)
    modules = modules or any(e.value == "m" for e in wanted.values())
    extmods = [Path(m).resolve() for m in extmods]
    if extmods and not modules:
        raise UserError("external modules need a build with modules: add --modules "
                        f"(asked for {', '.join(m.name for m in extmods)})")
    config_hash = kconfig.fragments_hash(frag_texts)
    check_clean_for_o(source)
    commit, dirty, commit_date = source_identity(source)
    tree = tree_name(source)
    build_dir = Path(build_root or paths.builds_dir()) / build_key(tree, commit, dirty, config, config_hash)
    ccache_dir = paths.cache_dir() / "ccache"
    ccache_dir.mkdir(parents=True, exist_ok=True)

    with _locked(build_dir), runtimes.select(runtime) as rt:
        src = rt.bind(source, SRC, read_only=True)
        out = rt.bind(build_dir, OUT)
        cc_dir = rt.bind(ccache_dir, CCACHE)
        compiler_probe = rt.image_id or _host_compiler()
        inputs = {"commit": commit, "dirty": dirty, "config_hash": config_hash, "modules": modules,
                  "runtime": rt.name, "toolchain": compiler_probe}
        if extmods:
            inputs["extmods"] = {m.name: extmod_hash(m) for m in extmods}
        kernel = build_dir / "arch/x86/boot/bzImage"
        modules_dir = build_dir / "modules-install" if modules else None
        meta_path = build_dir / "metadata.json"
        old = _read_json(meta_path)
        if not configure_only and reusable(old, inputs, [kernel] + ([modules_dir] if modules_dir else [])):
            ui.info("build", f"up to date: {build_dir} (built {old['patchkit'].get('finished')})")
            meta = dict(old, patchkit=dict(old["patchkit"], reused=True))
            return BuildResult(kernel, build_dir, modules_dir, meta, Path(old["patchkit"]["log"]))

        repro_argv = reproducer_argv(source, config=config, fragments=list(fragments), runtime=rt.name,
                                     modules=modules, jobs=jobs, build_root=build_root, extmods=extmods)
        logs = build_dir / "logs"
        logs.mkdir(exist_ok=True)
        started = datetime.now(timezone.utc)
        log = logs / f"build-{started.strftime('%Y%m%dT%H%M%SZ')}.log"
        with open(log, "w") as f:
            f.write(f"# reproduce: {shlex.join(repro_argv)}\n# build dir: {build_dir}\n")
        latest = build_dir / "build.log"
        latest.unlink(missing_ok=True)
        latest.symlink_to(log.relative_to(build_dir))
        run = _Run(rt=rt, source=source, src=src, out=out, build_dir=build_dir, log=log,
                   env=build_env(rt.path_env(), cc_dir, src, commit_date), repro_argv=repro_argv,
                   config=config, frag_paths=frag_paths, config_hash=config_hash, modules=modules,
                   modules_dir=modules_dir, extmods=extmods, jobs=jobs, commit=commit, dirty=dirty,
                   tree=tree, inputs=inputs, kernel=kernel, started=started, start=start)
        run.configure(frag_texts, wanted)
        if configure_only:
            return build_dir / ".config"
        run.compile()
        meta = run.write_metadata(PASS)
        return BuildResult(kernel, build_dir, modules_dir, meta, log)


@dataclass
class _Run:
    """One build being run in its build dir: its log, its steps (tuxmake's
    targets config, kernel, modules) and the metadata.json they leave, also
    after a failure."""

    rt: object
    source: Path
    src: str                  # the source as the runtime sees it
    out: str                  # the build dir as the runtime sees it
    build_dir: Path
    log: Path
    env: dict
    repro_argv: list[str]
    config: str
    frag_paths: list[Path]
    config_hash: str
    modules: bool
    modules_dir: Path | None
    extmods: list[Path]
    jobs: int
    commit: str
    dirty: bool
    tree: str
    inputs: dict
    kernel: Path
    started: datetime
    start: float              # time.monotonic() when the build was asked for
    targets: dict = field(default_factory=dict)

    @property
    def meta_path(self) -> Path:
        return self.build_dir / "metadata.json"

    @property
    def repro(self) -> str:
        return shlex.join(self.repro_argv)

    def write_metadata(self, status: str) -> dict:
        """metadata.json for this build as it stands: also after a failure."""
        build_dir, modules_dir = self.build_dir, self.modules_dir
        for t in ("config", "kernel", *(["modules"] if self.modules else [])):
            self.targets.setdefault(t, {"status": SKIP, "duration": 0.0})
        cfg_path = build_dir / ".config"
        cfg = kconfig.values(cfg_path.read_text()) if cfg_path.exists() else {}
        release = build_dir / "include/config/kernel.release"
        makefile = self.source / "Makefile"
        meta = tuxmake_metadata(
            status=status, targets=self.targets, environment=self.env, config=self.config,
            fragments=[str(p) for p in self.frag_paths[len(flavour_fragments(self.config)):]],
            jobs=self.jobs, runtime=self.rt.name, image=self.rt.image, image_id=self.rt.image_id,
            reproducer=self.repro_argv, log_text=self.log.read_text(errors="replace"),
            compiler_text=cfg.get("CONFIG_CC_VERSION_TEXT", ""), git=git_info(self.source, self.commit),
            kernel_version=kernelversion(makefile.read_text(errors="replace")) if makefile.exists() else None,
            artifacts=artifacts_of(build_dir) if status == PASS else {},
            modules=module_list(modules_dir) if status == PASS else [],
            extra={
                "tree": {"name": self.source.name, "path": str(self.source), "key": self.tree,
                         "pinned": _pin_of(self.source)},
                "dirty": self.dirty,
                "config": {"name": self.config, "hash": self.config_hash,
                           "fragments": [str(p) for p in self.frag_paths]},
                "kernelrelease": release.read_text().strip() if release.exists() else None,
                "modules": self.modules,
                "extmods": [m.name for m in self.extmods],
                "started": self.started.isoformat(timespec="seconds"),
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "seconds": round(time.monotonic() - self.start, 1),
                "build_dir": str(build_dir),
                "kernel": str(self.kernel) if status == PASS else None,
                "modules_dir": str(modules_dir) if modules_dir and status == PASS else None,
                "log": str(self.log),
                "reproducer": self.repro,
                "inputs": self.inputs,
            })
        _write_atomic(self.meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return meta

    def step(self, what: str, argv: list[str], cwd: str) -> None:
        rc = self.rt.run(argv, cwd=cwd, env=self.env, log=self.log)
        if rc != 0:
            _check_disk(self.log)
            text = self.log.read_text(errors="replace")
            location, errors = first_error(text, src=self.src, host_src=str(self.source))
            where = f" at {location}" if location else ""
            raise BuildFailed(
                f"{what} failed{where} (exit {rc})\n" + "\n".join(f"  | {e}" for e in errors)
                + f"\n  log: {self.log}",
                log=self.log, location=location, errors=errors, build_dir=self.build_dir,
                hint=f"reproduce: {self.repro}")

    @contextmanager
    def target(self, name: str):
        """Time one tuxmake target; a BuildFailed marks it FAIL and writes the metadata."""
        t0 = time.monotonic()
        try:
            yield
        except BuildFailed as exc:
            self.targets[name] = {"status": FAIL, "duration": round(time.monotonic() - t0, 1)}
            self.meta_path.unlink(missing_ok=True)
            exc.metadata = self.write_metadata(FAIL)
            exc.build_dir = self.build_dir
            raise
        except KeyboardInterrupt:
            # Ctrl-C / SIGTERM: the record says where the build stopped (tuxmake
            # writes its metadata in a finally, too)
            self.targets[name] = {"status": FAIL, "duration": round(time.monotonic() - t0, 1)}
            self.meta_path.unlink(missing_ok=True)
            try:
                self.write_metadata(FAIL)
            except OSError:
                pass
            raise
        self.targets[name] = {"status": PASS, "duration": round(time.monotonic() - t0, 1)}

    def configure(self, frag_texts, wanted) -> None:
        """allnoconfig + the fragments + olddefconfig, unless this config is in place;
        every value the fragments ask for must land."""
        build_dir, out, src, log, jobs = self.build_dir, self.out, self.src, self.log, self.jobs
        stamp = build_dir / ".patchkit-configured"
        with self.target("config"):
            if stamp.exists() and stamp.read_text() == self.config_hash and (build_dir / ".config").exists():
                return
            with ui.stage("configure", f"{self.config} ({len(self.frag_paths)} fragments) in {self.rt.name}") \
                    as live, ui.follow(log, KbuildProgress(live)):
                stamp.unlink(missing_ok=True)
                frag_dir = build_dir / "fragments"
                shutil.rmtree(frag_dir, ignore_errors=True)
                frag_dir.mkdir()
                inside = []
                for i, (origin, text) in enumerate(frag_texts):
                    name = f"{i:02d}-{Path(origin).name}"
                    (frag_dir / name).write_text(text)
                    inside.append(f"{out}/fragments/{name}")
                self.step("allnoconfig", make_argv(src, out, ["allnoconfig"], jobs=jobs), out)
                self.step("merge_config.sh", merge_argv(src, out, inside), out)
                self.step("olddefconfig", make_argv(src, out, ["olddefconfig"], jobs=jobs), out)
                misses = kconfig.not_landed(
                    wanted, kconfig.values((build_dir / ".config").read_text()),
                    defined=lambda symbols: kconfig.defined_symbols(self.source, symbols))
                if misses:
                    with open(log, "a") as f:
                        f.write("# config values that did not land:\n")
                        f.writelines(f"#   {m.describe()}\n" for m in misses)
                    raise BuildFailed(
                        f"{len(misses)} config value(s) did not land after olddefconfig:\n"
                        + "\n".join(f"  {m.describe()}" for m in misses) + f"\n  log: {log}",
                        log=log,
                        hint="a dependency is missing from the fragment; see `make O=" + str(build_dir)
                        + " menuconfig` and search for the symbol")
                _write_atomic(stamp, self.config_hash)

    def compile(self) -> None:
        """bzImage (and modules, installed, with the external modules) in one make."""
        build_dir, out, src, jobs = self.build_dir, self.out, self.src, self.jobs
        self.meta_path.unlink(missing_ok=True)  # a failed rebuild must not look finished
        make_targets = ["bzImage"] + (["modules"] if self.modules else [])
        with ui.stage("build", f"{' '.join(make_targets)} -j{jobs} in {self.rt.name}") as live, \
                ui.follow(self.log, KbuildProgress(live)):
            with self.target("kernel"):
                # one make for both, as before: modules build in parallel with the kernel
                self.step("make " + " ".join(make_targets), make_argv(src, out, make_targets, jobs=jobs), out)
            if self.modules:
                with self.target("modules"):
                    shutil.rmtree(self.modules_dir, ignore_errors=True)
                    self.step("modules_install", make_argv(src, out, ["modules_install"], jobs=jobs,
                                                           extra=[f"INSTALL_MOD_PATH={out}/modules-install"]), out)
                    for mod in self.extmods:
                        # M= builds in the module's directory: a copy inside the build dir
                        # (the source tree and the repo may be mounted read-only).
                        copy = build_dir / "extmod" / mod.name
                        shutil.rmtree(copy, ignore_errors=True)
                        shutil.copytree(mod, copy)
                        extra = [f"M={out}/extmod/{mod.name}", f"INSTALL_MOD_PATH={out}/modules-install"]
                        self.step(f"external module {mod.name}",
                                  make_argv(src, out, ["modules"], jobs=jobs, extra=extra), out)
                        self.step(f"modules_install of {mod.name}",
                                  make_argv(src, out, ["modules_install"], jobs=jobs, extra=extra), out)


def _pin_of(source: Path) -> dict | None:
    """The pinned tree (and Debian package version actually used) a source
    belongs to, for the metadata; None for a user's own checkout."""
    from patchkit import tree as tree_mod

    return tree_mod.pin_of(source)


# -- a kernel handed from one job to another ---------------------------------------

EXPORTED = ["bzImage", ".config", "System.map", "metadata.json"]  # + modules-install/ when built


def export(result: BuildResult, dest: Path) -> Path:
    """Copy what booting needs (bzImage, .config, System.map, modules, metadata)
    to dest: the build artifact a CI build job hands to its test jobs."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    sources = {"bzImage": result.kernel, ".config": result.build_dir / ".config",
               "System.map": result.build_dir / "System.map"}
    for name, src in sources.items():
        if src.is_file():
            shutil.copy2(src, dest / name)
    if result.modules_dir and result.modules_dir.is_dir():
        shutil.copytree(result.modules_dir, dest / "modules-install", symlinks=True)
    meta = dict(result.metadata,
                patchkit=dict(result.metadata.get("patchkit") or {}, exported_from=str(result.build_dir)))
    _write_atomic(dest / "metadata.json", json.dumps(meta, indent=2) + "\n")
    return dest


def prebuilt(directory: Path, *, source: Path, config: str = "minimal",
             fragments: list[Path] = ()) -> BuildResult:
    """The kernel export() left in directory, after checking it was built from
    source's commit with this config: a test job never boots another kernel."""
    directory = Path(directory)
    meta = _read_json(directory / "metadata.json")
    kernel = directory / "bzImage"
    if meta is None or not kernel.is_file():
        raise UserError(f"no exported kernel in {directory} (metadata.json and bzImage)",
                        hint="the build cell exports it: patchkit matrix cell build-...")
    commit, dirty, _ = source_identity(Path(source))
    own = meta.get("patchkit") or {}
    built_from = (meta.get("git") or {}).get("git_commit")
    if (built_from, own.get("dirty")) != (commit, dirty):
        raise UserError(f"the kernel in {directory} was built from {built_from}, "
                        f"but the source {source} is at {commit}" + (" with changes" if dirty else ""),
                        hint="rebuild it from this source (its build cell)")
    frag_paths = flavour_fragments(config) + [Path(f).resolve() for f in fragments]
    config_hash = kconfig.fragments_hash([kconfig.read_fragment(p) for p in frag_paths])
    built_config = own.get("config") or {}
    if built_config.get("hash") != config_hash:
        raise UserError(f"the kernel in {directory} was built with config {built_config.get('name')} "
                        f"(hash {built_config.get('hash')}), not {config} + "
                        f"{', '.join(str(f) for f in fragments) or 'no fragments'} ({config_hash})")
    modules_dir = directory / "modules-install"
    meta = dict(meta, patchkit=dict(own, prebuilt=str(directory)))
    return BuildResult(kernel, directory, modules_dir if modules_dir.is_dir() else None, meta,
                       Path(own.get("log", directory / "build.log")))


def _host_compiler() -> str:
    res = proc.run(["gcc", "--version"], check=False)
    return res.stdout.splitlines()[0] if res.returncode == 0 and res.stdout else "unknown"


class KbuildProgress:
    """Reads kbuild's quiet output ("  CC      mm/swap.o") as make writes it:
    objects compiled so far and the last target, for ui.follow's live line."""

    _STEP = re.compile(r"^\s+([A-Z][A-Z0-9_]{1,9}(?: \[M\])?)\s+(\S+)")
    COUNTED = {"CC", "CC [M]", "AS", "AS [M]", "LD", "LD [M]", "AR", "HOSTCC", "HOSTLD"}

    def __init__(self, live):
        self.live = live
        self.objects = 0
        self.last = ""

    def line(self, text: str) -> None:
        m = self._STEP.match(text)
        if not m:
            return
        if m.group(1) in self.COUNTED:
            self.objects += 1
        self.last = f"{m.group(1)} {m.group(2)}"

    def status(self) -> str:
        return f"{self.objects} objects" + (f", {self.last}" if self.last else "")


# -- CLI ---------------------------------------------------------------------------

# what the global --dry-run does for this command (shown in its --help)
DRY_RUN = 'refused: each step needs the one before (the first line of each build log is the command that reproduces it)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", type=Path,
                        help="kernel source (a git checkout); default: the pinned tree")
    parser.add_argument("--config", default="minimal",
                        help=f"config flavour: {', '.join(flavours())} (default minimal)")
    parser.add_argument("--fragment", action="append", type=Path, default=[], metavar="FILE",
                        help="extra kconfig fragment merged last (repeatable)")
    parser.add_argument("--runtime", choices=runtimes.NAMES, default="auto",
                        help="where to build (default auto: a container, else the host with a warning)")
    parser.add_argument("--modules", action="store_true",
                        help="also build and install modules (implied when a fragment asks for =m)")
    parser.add_argument("--extmod", action="append", type=Path, default=[], metavar="DIR",
                        help="an out-of-tree module directory (Kbuild) to build against the tree and "
                             "install with the modules (repeatable; needs --modules)")
    parser.add_argument("--configure-only", action="store_true",
                        help="configure and check that every fragment value landed; build nothing")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="make -j (default: CPU count)")
    parser.add_argument("--build-root", type=Path, default=None,
                        help=f"where build directories go (default {paths.builds_dir()})")


def default_source() -> Path:
    try:
        from patchkit import tree
    except ImportError as exc:
        raise UserError("no kernel source given", hint="patchkit build /path/to/linux") from exc
    t = tree.open_tree()
    return Path(getattr(t, "path", t))


def run(args: argparse.Namespace) -> int:
    if args.options.dry_run:
        # every step depends on the one before (git identity, .config): a dry
        # run could only print guesses
        raise UserError("patchkit build has no --dry-run",
                        hint="the first line of each build log is the command that reproduces it")
    # bad input fails before the tree is opened
    flavour_fragments(args.config)
    for frag in args.fragment:
        kconfig.read_fragment(Path(frag).resolve())
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"-j {args.jobs}: give at least 1 job")
    if args.source is not None and not Path(args.source).is_dir():
        raise UserError(f"{args.source}: no such kernel source folder",
                        hint="patchkit build /path/to/linux (a git checkout), or no argument "
                             "for the pinned tree")
    source = args.source or default_source()
    if args.configure_only:
        dot_config = configure(source, config=args.config, fragments=args.fragment, runtime=args.runtime,
                               jobs=args.jobs, build_root=args.build_root)
        ui.info("configure", f"every fragment value landed: {dot_config}")
        return 0
    result = build(source, config=args.config, fragments=args.fragment, runtime=args.runtime,
                   modules=args.modules, jobs=args.jobs, build_root=args.build_root,
                   extmods=args.extmod)
    ui.info("build", f"{result.kernel} ({result.metadata['build']['runtime']}, {result.compiler}, "
                     f"{result.warnings} warnings, log {result.log})")
    return 0
