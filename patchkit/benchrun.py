"""Running a bench: the kernels, their builds, and the interleaved boots.

Three kernels from one tree and one config (pipeline.compared_kernels): the
baseline, the base layer alone and the full series, rendered by patchkit
render and built by patchkit build (or --source checkouts and --kernel
images).  run_rounds() boots every kernel once per round, in the same
order (A B C A B C ...), with the same initramfs, QEMU, accelerator, guest
size and zram setup; after each boot, bench-partial.json holds the rounds
so far.  benchreport.py reads the rounds; bench.py is the command.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from patchkit import benchreport, icount, layout, paths, pipeline, proc, render, ui
from patchkit import tree as tree_mod
from patchkit.errors import InfraError, UserError


MEMORY_MB = 256


SMP = 2


BOOT_TIMEOUT = 900.0


# Under icount one host thread runs the guest: on a shared, loaded machine a boot takes longer,
# while the guest's own clock (instructions) is unaffected.
ICOUNT_BOOT_TIMEOUT = 2700.0


@dataclass
class Kernel:
    label: str
    source: Path
    origin: str                 # "render <series> @ <commit>" or "--source PATH"
    kernel: Path | None = None  # bzImage
    config_hash: str | None = None
    build_seconds: float | None = None


@dataclass
class Round:
    index: int
    label: str
    status: str
    accel: str
    qemu_version: str
    seconds: float
    figures: dict = field(default_factory=dict)  # test -> {figure: value}
    statuses: dict = field(default_factory=dict)  # test -> PASS/FAIL/SKIP/ERROR
    detail: str = ""
    console_log: str = ""
    clock: str = "wall"
    breakdown: dict | None = None  # icount: plugin counts per phase and function (icount.breakdown)
    breakdown_note: str = ""
    initramfs_sha256: str = ""  # the image this boot ran: figures compare only across one image
    run: int = 1  # which bench run the round came from (--report of several bench.json files)


@dataclass(frozen=True)
class Plan:
    """What a rendered bench compares on one tree: the series (name, version) and the base layer
    benched alone (None: two kernels), plus the base the series itself is rendered on."""
    tree: str
    series: tuple[str, int]
    base_layer: tuple[str, int] | None
    series_base: tuple[str, int] | None  # the series' own dependency on this tree

    def names(self) -> dict[str, str]:
        out = {"series": f"{self.series[0]} v{self.series[1]}"}
        if self.base_layer:
            out["base-layer"] = f"{self.base_layer[0]} v{self.base_layer[1]}"
        if self.series_base and self.series_base != self.base_layer:
            out["series"] += f" on {self.series_base[0]} v{self.series_base[1]}"
        return out

    def note(self) -> str:
        """A sentence when the series kernel does not sit on the base-layer kernel benched."""
        if self.base_layer and self.series_base != self.base_layer:
            on = f"{self.series_base[0]} v{self.series_base[1]}" if self.series_base else "the bare tree"
            return (f"the series kernel is {self.series[0]} v{self.series[1]} rendered on {on}, not on the "
                    f"base layer benched alone ({self.base_layer[0]} v{self.base_layer[1]}): the series' "
                    f"ratio to the base layer mixes two base layers")
        return ""


def plan(series: str, tree: str, base_layer: str = "auto", series_version: int | None = None,
         root: Path | None = None) -> Plan:
    """The kernels of a rendered bench on tree.  base_layer 'auto': the series' own dependency on
    that tree (none on 7.3, whose mainline has the swap_ops base: two kernels); 'none': two
    kernels; a series name: that series alone as the middle kernel (at the version the series
    depends on, else its default for the tree)."""
    from patchkit import series as series_mod

    chain = series_mod.chain(series, root, version=series_version, tree=tree)
    top = chain[-1]
    dep = (chain[-2].name, chain[-2].version) if len(chain) > 1 else None
    if base_layer in ("auto", "", None):
        base = dep
    elif base_layer == "none":
        base = None
    else:
        # "NAME" (at the version the series sits on, else NAME's default) or "NAME vN"
        name, _, ver = base_layer.partition(" ")
        version = None
        if ver:
            if not (ver.startswith("v") and ver[1:].isdigit()):
                raise UserError(f"--base-layer {base_layer!r}: expected NAME or 'NAME vN'")
            version = int(ver[1:])
        known = {s.name: s.version for s in chain[:-1]}
        if root is None and "/" in series and (Path(series).parent / name).is_dir():
            root = Path(series).parent  # a series given as a folder: its base layer beside it
        alone = series_mod.load(name, root, version=version, tree=tree)
        alone.check_tree(tree)
        base = (alone.name, version or known.get(alone.name, alone.version))
    return Plan(tree=tree, series=(top.name, top.version), base_layer=base, series_base=dep)


def parse_assignments(items: list[str] | None, option: str, labels=benchreport.LABELS) -> dict[str, Path]:
    """['baseline=/x', ...] -> {label: Path}; unknown labels and bad syntax are UserErrors."""
    LABELS = labels  # noqa: N806 (the labels of this run)
    out: dict[str, Path] = {}
    for item in items or []:
        label, sep, value = item.partition("=")
        if not sep or not value:
            raise UserError(f"{option} {item!r}: expected LABEL=PATH",
                            hint=f"labels: {', '.join(LABELS)}")
        if label not in LABELS:
            raise UserError(f"{option} {item!r}: unknown label {label!r}", hint=f"labels: {', '.join(LABELS)}")
        if label in out:
            raise UserError(f"{option} given twice for {label}")
        out[label] = Path(value)
    return out


def schedule(labels, rounds: int) -> list[tuple[int, str]]:
    """Interleaved order: (round, label) for A B C A B C ..."""
    if rounds < 1:
        raise UserError(f"--rounds must be at least 1, not {rounds}")
    return [(r, label) for r in range(1, rounds + 1) for label in labels]


def host_tsc_mhz() -> float:
    """The host's TSC rate (pk-bench tsc, built for the guest and run here)."""
    from patchkit import initramfs

    prog = initramfs.compile_program(paths.GUEST / "bench" / "pk-bench.c")
    out = proc.run([str(prog), "tsc"]).stdout
    try:
        mhz = float(out.split()[1])
    except (IndexError, ValueError) as exc:
        raise InfraError(f"pk-bench tsc printed {out.strip()!r}, not 'tsc_mhz N'") from exc
    if mhz <= 0:
        raise InfraError("the host TSC does not tick (pk-bench tsc measured 0 MHz)")
    return mhz


def machine() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()}


def rendered_sources(args, workdir: Path, kplan: Plan | None = None) -> dict[str, Kernel]:
    """The kernels' sources, rendered from the series templates on the pinned tree
    (kplan: which series versions; default: plan() of args), checked out as
    pipeline.compared_kernels() names them (the kernels validate --faults builds)."""
    tree = tree_mod.open_tree(args.tree)
    name = getattr(tree, "name", "tree")
    kplan = kplan or plan(args.series, name, getattr(args, "base_layer", "auto"),
                          getattr(args, "series_version", None))
    full = render.render(args.series, tree, version=kplan.series[1])
    base, names = None, {"series": kplan.names()["series"]}
    if kplan.base_layer:
        bname, bversion = kplan.base_layer
        beside = Path(args.series).parent / bname  # a series given as a folder: its base layer beside it
        base = render.render(str(beside) if "/" in args.series and beside.is_dir() else bname, tree,
                             version=bversion)
        names["base-layer"] = f"{bname} v{bversion}"
    compared = pipeline.compared_kernels(tree, full, base_layer=base, with_base_layer=base is not None,
                                         names=names)
    return {label: Kernel(label, pipeline.checkout(tree, k, "bench"), k.origin)
            for label, k in compared.items()}


def resolve_kernels(args, workdir: Path, kplan: Plan | None = None) -> tuple[dict[str, Kernel], str]:
    base_layer = getattr(args, "base_layer", "auto")
    if kplan is not None:
        LABELS = benchreport.labels_for(kplan.base_layer and kplan.base_layer[0])  # noqa: N806 (this run's)
    elif base_layer in ("auto", None, ""):
        # --source without a plan: the kernels given say whether there is a base layer
        given = {item.partition("=")[0] for item in args.source or []}
        LABELS = benchreport.labels_for("base-layer" if "base-layer" in given else "none")  # noqa: N806
    else:
        LABELS = benchreport.labels_for(base_layer)  # noqa: N806 (this run's)
    sources = parse_assignments(args.source, "--source", LABELS)
    prebuilt = parse_assignments(args.kernel, "--kernel", LABELS)
    for label, path in prebuilt.items():
        if label not in sources:
            raise UserError(f"--kernel {label}={path} needs --source {label}=TREE it was built from")
        if not path.is_file():
            raise UserError(f"--kernel {label}={path}: no such file")
    note = ""
    if sources:
        missing = [lb for lb in LABELS if lb not in sources]
        if missing:
            raise UserError(f"--source given for {', '.join(sources)} but not for {', '.join(missing)}",
                            hint=f"give all of {', '.join(LABELS)}, or none to render the series")
        for label, path in sources.items():
            if not (path / "Makefile").is_file():
                raise UserError(f"--source {label}={path}: not a kernel tree (no Makefile)")
        kernels = {lb: Kernel(lb, sources[lb].resolve(), f"--source {sources[lb]}") for lb in LABELS}
        note = ("kernels from --source checkouts" + (" and prebuilt --kernel images" if prebuilt else "")
                + ", not rendered from the templates")
    else:
        kernels = rendered_sources(args, workdir, kplan)
    kernels = {lb: kernels[lb] for lb in LABELS}
    for label, path in prebuilt.items():
        kernels[label].kernel = path.resolve()
        kernels[label].config_hash = config_hash_near(path)
    return kernels, note


def config_hash_near(kernel: Path) -> str | None:
    """sha256 of the .config beside a prebuilt bzImage (saved as config or .config), if any."""
    for cand in (kernel.parent / "config", kernel.parent / ".config"):
        if cand.is_file():
            return ".config:" + hashlib.sha256(cand.read_bytes()).hexdigest()[:16]
    return None


def build_kernels(kernels: dict[str, Kernel], config: str, runtime: str, fragments: list[Path] = ()) -> None:
    todo = [k for k in kernels.values() if k.kernel is None]
    if not todo:
        return
    from patchkit import build

    for k in todo:
        start = time.monotonic()
        with ui.stage(f"bench build {k.label}", "building"):
            res = build.build(k.source, config=config, fragments=list(fragments), runtime=runtime, jobs=2)
        k.kernel = Path(res.kernel)
        frag = res.config_hash
        k.config_hash = f"fragments:{frag}" if frag else None
        k.build_seconds = round(time.monotonic() - start, 1)


def check_same_config(kernels: dict[str, Kernel]) -> None:
    """Every kernel built from the same config fragments (kernels of unknown config only warn)."""
    hashes = {k.label: k.config_hash for k in kernels.values()}
    known = {h for h in hashes.values() if h}
    # a built kernel's fragment hash and a prebuilt one's .config hash are not comparable
    if any(len({h for h in known if h.split(":")[0] == kind}) > 1 for kind in ("fragments", ".config")):
        raise UserError("the kernels were built with different configs: "
                        + ", ".join(f"{lb} {h}" for lb, h in hashes.items()),
                        hint="build all three with the same --config")
    if None in hashes.values():
        ui.warn("bench", "config of " + ", ".join(lb for lb, h in hashes.items() if not h)
                + " unknown: cannot check that all kernels share one config")


def run_rounds(kernels: dict[str, Kernel], *, rounds: int, accel: str, out: Path,
               initrd_source: Path, tsc_mhz: float | None, meta: dict | None = None,
               clock: str = "wall", plugin: Path | None = None,
               tests: list[str] | None = None, initrd: Path | None = None, jobs: int = 1) -> list[Round]:
    """Boot the kernels in interleaved order; after each boot, out/bench-partial.json holds
    the rounds so far (patchkit bench --report reads it if the run is cut short).

    clock="icount": one vCPU, the icount workloads, and with plugin (pk-insn.so) each
    boot's instruction counts per phase in its round folder, split per function.
    initrd: the one image every boot runs (default: each boot builds its own).
    jobs > 1 (icount only): that many boots side by side, in the same interleaved order;
    a guest's instruction counts do not depend on how fast the host runs it."""
    from concurrent.futures import ThreadPoolExecutor

    from patchkit import boot as boot_mod

    if jobs < 1:
        raise UserError(f"--jobs {jobs}: at least one boot at a time")
    if jobs > 1 and clock != "icount":
        raise UserError(f"--jobs {jobs} needs --clock icount: boots side by side would slow each other's "
                        "wall-clock figures", hint="use --jobs 1 with --clock wall")
    done: list[Round] = []
    order = schedule(list(kernels), rounds)
    tests, smp = (tests or icount.TESTS, 1) if clock == "icount" else (tests or benchreport.TESTS, SMP)

    def one(rnd: int, label: str, accel: str) -> Round:
        k = kernels[label]
        start = time.monotonic()
        log_dir = out / "rounds" / f"{rnd:02d}-{label}"
        counts = log_dir / icount.COUNTS_FILE
        counts.unlink(missing_ok=True)
        plugins = [icount.plugin_spec(plugin, counts)] if plugin else None
        res = boot_mod.boot(k.kernel, source=initrd_source, tests=tests,
                            timeout=ICOUNT_BOOT_TIMEOUT if clock == "icount" else BOOT_TIMEOUT,
                            log_dir=log_dir, memory_mb=MEMORY_MB, smp=smp,
                            accel=accel, clock=clock, plugins=plugins, initrd=initrd)
        figures = {t.name: t.figures for t in res.tests}
        r = Round(rnd, label, res.status, res.accel, res.qemu_version, round(time.monotonic() - start, 1),
                  figures=benchreport.normalise(figures, tsc_mhz) if clock == "wall" else figures,
                  statuses={t.name: t.status for t in res.tests},
                  detail=res.detail, console_log=str(res.console_log), clock=clock,
                  initramfs_sha256=getattr(res, "initrd_sha256", ""))
        if plugin:
            try:
                r.breakdown, r.breakdown_note = icount.read_breakdown(counts, k.kernel)
            except UserError as exc:
                r.breakdown_note = str(exc)
        return r

    def record(r: Round) -> None:
        done.append(r)
        done.sort(key=lambda x: order.index((x.index, x.label)))
        benchreport.check_comparable([asdict(x) for x in done])
        if meta is not None:
            partial = out / "bench-partial.json"
            partial.parent.mkdir(parents=True, exist_ok=True)
            tmp = partial.with_name(".bench-partial.json.tmp")
            tmp.write_text(json.dumps({"meta": dict(meta, accel=r.accel, qemu_version=r.qemu_version),
                                       "rounds": [asdict(x) for x in done]}, default=str) + "\n")
            tmp.replace(partial)
        ui.info("bench", f"[{len(done)}/{len(order)}] round {r.index} {r.label}: {r.status} in {r.seconds:.0f}s"
                + (f" ({r.detail})" if r.detail else ""))

    if jobs == 1:
        for rnd, label in order:
            record(one(rnd, label, accel))
            # the first boot settles the accelerator; every later one must use it
            accel = done[0].accel
        return done
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, rnd, label, accel) for rnd, label in order]
        for f in futures:
            record(f.result())
    return done


def straddles_json(kernel: Path | None) -> list[dict] | None:
    found = layout.kernel_straddles(kernel) if kernel else None
    return None if found is None else [{"function": x.function, "address": f"{x.address:#x}", "size": x.size,
                                        "page_offset": f"{x.page_offset:#x}"} for x in found]
