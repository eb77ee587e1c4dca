"""Portable numerics: the code paths that decide a fit's last bits, fixed by the workflow,
checked at each job's start and recorded.

The same commit gave other numbers on another CPU (issue 25: the article's ``lm_fd``
ended after 48,419 evaluations on an AVX-512 Xeon, 43,679 on an AVX2 EPYC), because the
libraries pick their code by CPU when they load:

* **numpy** dispatches each ufunc to the best SIMD target the CPU has. Its float64
  ``exp`` and ``log`` on AVX-512 (target ``X86_V4``) are its own vector versions, which
  differ from glibc's, called on AVX2 CPUs (``X86_V3``), in the last bit on ~4.6% of
  inputs (``log``: ~0.015%; measured here on 20,000 inputs).
* **OpenBLAS** (numpy and scipy each bundle one) picks a kernel family by CPU
  (``Haswell``, ``SkylakeX``, ``Zen``...); their sums of many terms (``J^T J``) differ in
  the last bit, and the SkylakeX kernels also changed with the thread count.
* **TensorFlow** computes float32 products with oneDNN's ``sgemm`` (inside Eigen's
  contractions and XLA's runtime, whether or not ``TF_ENABLE_ONEDNN_OPTS`` is set), whose
  kernels are chosen by instruction set; XLA compiles for the CPU it runs on.
* **glibc**'s ``exp``/``log`` pick an FMA or a non-FMA version by CPU.

The settings (:data:`SETTINGS`) hold every x86-64 CPU with AVX2 and FMA to the code
paths such a CPU runs anyway, so an AVX-512 machine computes what an AVX2 machine does.
``workflow/rules/common.smk`` puts them into the environment of the Snakemake process
(:func:`configure`), so every job's Python starts with them (numpy, OpenBLAS and glibc
read them when they load: setting them inside a job would be too late); a value the
environment already holds is never replaced (a held value that conflicts is reported,
and checked like the rest). ``numerics: {portable: false}`` in a config file turns the
caps off for speed work (recorded as "not portable: opted out"); the two settings that
make a rerun repeat itself on one machine (``MALLOC_*``) stay on.

**What each job checks at its start** (:func:`check`, from
:func:`secondorder.pipeline.stages.start`): what each library actually chose, not what
was asked, since numpy ignores a misspelt variable or value without a word
(``NPY_ENABLE_CPU_FEATURES=X86_V33`` silently runs the X86_V2 baseline):

* numpy: every float64 ufunc's dispatch target (``numpy.lib.introspect.opt_func_info``)
  is the best one at or below ``X86_V3``, and ``np.exp``/``np.log`` on fixed inputs
  equal glibc's (``math.exp``/``math.log``) bit for bit;
* glibc: ``math.exp``/``math.log`` on those inputs give the reference's bits;
* OpenBLAS: each loaded copy's kernel family and thread count (``threadpoolctl``; a
  portable job runs each with one thread, :func:`pin_blas_threads`);
* the allocator: freed blocks are filled (probed with ``malloc`` itself) and glibc's
  loader parses both ``MALLOC_*`` values from the environment (``ld.so
  --list-tunables``);
* TensorFlow jobs: the thread pools, and two canaries compared with the reference's
  bits: a float32 product through oneDNN's ``sgemm`` (its AVX-512 kernels give other
  bits; oneDNN's chosen ISA cannot be read, ``dnnl_get_effective_cpu_isa`` is not
  exported by TensorFlow's libraries) and XLA's compiled ``exp`` (its non-FMA code
  gives other bits; XLA compiles the same bits for AVX2 and AVX-512, so the cap itself
  cannot be seen, only that the bits are the AVX2 ones).

**Measured** on the reference machine (AMD EPYC, Zen 4 with AVX-512, glibc 2.36, the
pins; 2 cores shared with other work): both bundled OpenBLAS copies honour
``OPENBLAS_CORETYPE`` itself (threadpoolctl reports the kernel; a prefixed
``SCIPY_OPENBLAS_CORETYPE`` is ignored). The article's ``lm_fd`` on the default config
ends after scipy ``nfev`` 48,162 (48,419 residual evaluations in all) without the caps
and after 43,679 (43,936) with them, on one weight vector with the caps under every
emulation tried: numpy's AVX-512 targets capped by this module or disabled in the
environment (an AVX2 CPU), one or two threads per job (OpenBLAS and TensorFlow); 43,679
is the AVX2 EPYC's count in issue 25. Its Keras Adam (float32, XLA) changed with
``ONEDNN_MAX_CPU_ISA=AVX2`` (1224 epochs to 1223), not with ``--xla_cpu_max_isa=AVX2``
or ``TF_ENABLE_ONEDNN_OPTS=0`` alone. On the tiny config, 48 of its 56 portable
artifacts changed with the caps (every fit and score; the data, the init and
``rounding.csv`` did not), and with ``numerics: {portable: false}`` all 56 equal the
run without this module, so the check itself changes no number.

A setting the workflow requested that is not in effect, or a held value that defeats
one, fails the job with a message naming the variable. A machine's own BLAS settings
(``OPENBLAS_CORETYPE``, ``OPENBLAS_L2_SIZE``: some machines need them because older
OpenBLAS builds crash or compute wrong results there) are never overridden: the job runs
and its record says what kernel ran and that its fits are not promised to match the
reference's. A canary that differs from the reference's bits (another glibc, another
CPU's kernels) is recorded the same way, as are CPUs without AVX2 and FMA. The result,
``numerics`` in every provenance record and ``fit.json`` (:func:`job_record`), says what
was requested, what the environment held, what each library chose, and whether the job
is portable, and why not.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import logging
import math
import os
import platform
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


class NumericsError(RuntimeError):
    """A setting the workflow needs is not in effect; the message names it."""


@dataclass(frozen=True)
class Setting:
    """One environment variable the workflow sets before any job's Python starts."""

    variable: str
    value: str
    fixes: str
    #: ``"portable"``: set only in portable mode on an AVX2+FMA CPU; ``"repeatable"``:
    #: always (a rerun on one machine repeats itself).
    kind: str = "portable"
    #: A machine's own setting: a held value is never overridden and does not fail a job.
    machine: bool = False


#: The settings, in the order they are applied; :func:`check` verifies each.
SETTINGS = (
    Setting("NPY_ENABLE_CPU_FEATURES", "X86_V3",
            "numpy's SIMD dispatch capped at x86-64-v3 (AVX2, FMA): float64 exp and log "
            "call glibc's, as on an AVX2 CPU, not numpy's AVX-512 versions"),
    Setting("OPENBLAS_CORETYPE", "Haswell",
            "both bundled OpenBLAS copies run their Haswell kernels (AVX2, FMA), which "
            "every AVX2+FMA CPU runs and whose sums do not change with the thread count",
            machine=True),
    Setting("ONEDNN_MAX_CPU_ISA", "AVX2",
            "oneDNN's kernels (TensorFlow's float32 sgemm, also under XLA) capped at AVX2"),
    Setting("TF_ENABLE_ONEDNN_OPTS", "0",
            "TensorFlow's graph ops run Eigen's kernels (whose float32 products call the "
            "capped sgemm), not oneDNN's own primitives, which pick a kernel by CPU"),
    Setting("XLA_FLAGS", "--xla_cpu_max_isa=AVX2",
            "XLA compiles for AVX2 at most (appended to a held XLA_FLAGS that sets no ISA)"),
    Setting("MALLOC_PERTURB_", "1",
            "glibc fills freed blocks, so scipy 1.17 MINPACK's read past its Jacobian "
            "sees a negligible number (secondorder.optim.minpack_memory)",
            kind="repeatable"),
    Setting("MALLOC_MMAP_THRESHOLD_", "131072",
            "large buffers are placed by a fixed rule, not by what the process freed "
            "before, so their alignment (and numpy's SIMD sums over them) repeats",
            kind="repeatable"),
)
BY_VARIABLE = {s.variable: s for s in SETTINGS}

#: Variables recorded when the environment holds them (the settings, the machine's own
#: BLAS settings, and the ones that change what the settings mean).
RECORDED = tuple(s.variable for s in SETTINGS) + (
    "OPENBLAS_L2_SIZE", "NPY_DISABLE_CPU_FEATURES", "DNNL_MAX_CPU_ISA")
#: Set for each job by Snakemake (the rule's ``threads``): recorded by the job.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
#: Threads of each OpenBLAS in a portable job, whatever the rule's ``threads`` (those go
#: to TensorFlow): :func:`pin_blas_threads`.
BLAS_THREADS = 1

#: Where the workflow hands its plan to the jobs (JSON, :func:`configure`).
PLAN_VARIABLE = "SECONDORDER_NUMERICS"

#: numpy's x86 dispatch targets, lowest first; the cap is :data:`NUMPY_CAP`.
NUMPY_TARGETS = ("X86_V2", "X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR")
NUMPY_CAP = "X86_V3"
#: The OpenBLAS kernel family the reference ran (every AVX2+FMA CPU can run it).
BLAS_KERNEL = "Haswell"
#: The XLA flag that caps its instruction set, and the cap.
XLA_ISA_FLAG, XLA_ISA = "--xla_cpu_max_isa", "AVX2"
#: Instruction sets XLA's ``--xla_cpu_max_isa`` knows (xla/backends/cpu/codegen/
#: cpu_features.cc); any other value is ignored with only a log warning.
XLA_ISAS = ("SSE4_2", "AVX", "AVX2", "AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX",
            "AMX_INT8", "AMX_FP16")
#: CPU flags (``/proc/cpuinfo``) the portable paths need.
NEEDED_FLAGS = ("avx2", "fma")

#: sha256 of the canaries' bits under the portable settings, recorded with
#: :func:`canary_digests` on the reference machine (AMD EPYC, Zen 4, glibc 2.36,
#: TensorFlow 2.21.0); the AVX-512 digests were recorded there without the caps.
REFERENCE_DIGESTS = {
    "libm": "395152be853589c26b9779846cc3b38995cac496afa72d9eb5b2a296a43984b8",
    "tf_sgemm": "f447f86d90dee10ac16584f7a565ac21572f59314b1713343e87bddc1f7e32d4",
    "xla_exp": "4a82bc8e3982832453fbb2a0deca7c1a8d7c440547cd82bc6cd05d3f68498f1c",
}
AVX512_DIGESTS = {
    "tf_sgemm": "651f30c497599482778729d142b8a915b150ddd43e783b4e75c233ff4c567331",
}


# --- the machine ---------------------------------------------------------------------------

def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags (``/proc/cpuinfo``), None where there is no such file."""
    try:
        with open(cpuinfo, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def cpu(flags: set[str] | None = None) -> dict:
    """The CPU as the check sees it: model, machine, and the flags that matter here."""
    from secondorder.provenance import cpu_model

    flags = cpu_flags() if flags is None else flags
    known = flags is not None
    return {"model": cpu_model(), "machine": platform.machine(),
            **{f: (f in flags) if known else None for f in ("avx2", "fma", "avx512f")},
            "libc": " ".join(platform.libc_ver()).strip() or None}


def capable(flags: set[str] | None) -> bool:
    """True on an x86-64 CPU whose flags include AVX2 and FMA."""
    return flags is not None and all(f in flags for f in NEEDED_FLAGS)


NOT_CAPABLE = ("this CPU lacks {missing}: the portable numerics need an x86-64 CPU with "
               "AVX2 and FMA, so this run computes on the CPU's own code paths and its "
               "artifacts are not promised to match the published reference's")


# --- the workflow's side: what to set --------------------------------------------------------

def configure(environ, *, portable: bool = True, flags: set[str] | None = None) -> dict:
    """Put the settings into ``environ`` (the Snakemake process's ``os.environ``, which
    every job inherits), never over a value it holds, and return the plan: ``portable``
    (asked), ``requested``, ``held`` (values the environment held before), ``set`` (what
    this call added) and ``messages`` (a CPU that cannot run the portable paths, a held
    value that conflicts). The plan goes to the jobs as JSON in :data:`PLAN_VARIABLE`.

    A plan already there with the same ``portable`` (an outer Snakemake's, when a
    cluster job parses the workflow again) is kept as it is: what it found held stays
    held. numpy refuses ``NPY_ENABLE_CPU_FEATURES`` beside a held
    ``NPY_DISABLE_CPU_FEATURES``, so then only the held one is used (the check says
    whether it reached the cap)."""
    inherited = read_plan(environ)
    if inherited is not None and inherited.get("portable") == portable:
        return inherited
    flags = cpu_flags() if flags is None else flags
    can = capable(flags)
    messages = []
    if portable and not can:
        missing = " and ".join(f.upper() for f in NEEDED_FLAGS
                               if flags is None or f not in flags)
        messages.append(NOT_CAPABLE.format(missing=missing or "a known flag list"))
    held = {v: environ[v] for v in RECORDED if v in environ}
    requested, added = {}, {}
    for s in SETTINGS:
        if s.kind == "portable" and not (portable and can):
            continue
        requested[s.variable] = s.value
        if s.variable == "NPY_ENABLE_CPU_FEATURES" and "NPY_DISABLE_CPU_FEATURES" in held:
            messages.append("NPY_DISABLE_CPU_FEATURES is held by the environment "
                            f"({held['NPY_DISABLE_CPU_FEATURES']!r}), so "
                            "NPY_ENABLE_CPU_FEATURES is not set (numpy refuses both); "
                            "each job checks where numpy's dispatch ends up")
            continue
        if s.variable == "XLA_FLAGS" and s.variable in held:
            if XLA_ISA_FLAG not in held[s.variable]:
                added[s.variable] = f"{held[s.variable]} {s.value}".strip()
            elif _xla_isa(held[s.variable]) != XLA_ISA:
                messages.append(f"XLA_FLAGS is held by the environment with "
                                f"{XLA_ISA_FLAG}={_xla_isa(held[s.variable])}, not "
                                f"{XLA_ISA}: kept; jobs that compile with XLA will fail")
            continue
        if s.variable in held:
            if held[s.variable] != s.value:
                consequence = ("kept (a machine's own BLAS setting): its jobs record the "
                               "kernel that ran" if s.machine else
                               "kept; jobs will fail on it: unset it, or set "
                               "numerics: {portable: false}")
                messages.append(f"{s.variable}={held[s.variable]!r} is held by the "
                                f"environment, not {s.value!r}: {consequence}")
            continue
        added[s.variable] = s.value
    plan = {"portable": bool(portable), "capable": can, "requested": requested,
            "held": held, "set": added, "messages": messages}
    environ.update(added)
    environ[PLAN_VARIABLE] = json.dumps(plan, sort_keys=True)
    return plan


def read_plan(environ=None) -> dict | None:
    """The workflow's plan (:func:`configure`) from the environment, None outside it."""
    text = (os.environ if environ is None else environ).get(PLAN_VARIABLE)
    if not text:
        return None
    try:
        plan = json.loads(text)
    except ValueError:
        return None
    return plan if isinstance(plan, dict) else None


def _xla_isa(flags: str) -> str | None:
    """The value of ``--xla_cpu_max_isa`` in an ``XLA_FLAGS`` string (the last wins)."""
    value = None
    for word in flags.split():
        if word.startswith(XLA_ISA_FLAG + "="):
            value = word.split("=", 1)[1]
    return value


# --- the job's side: what each library chose -------------------------------------------------

def _canary_inputs(n: int = 4001) -> tuple[np.ndarray, np.ndarray]:
    """Fixed inputs made with exact arithmetic only (no ``exp``/``log`` in their making):
    ``x`` in [-20, 20] for ``exp``, ``y`` in (0.01, 207) for ``log``."""
    k = (np.arange(n) * 7919) % 20011
    return (k - 10005) / 500.0, (k + 1) / 97.0


def _target_rank(name: str) -> int:
    """A numpy dispatch target's place in :data:`NUMPY_TARGETS` (``baseline(X86_V2)``
    counts as ``X86_V2``; unknown names rank above everything)."""
    name = name.removeprefix("baseline(").rstrip(")")
    return NUMPY_TARGETS.index(name) if name in NUMPY_TARGETS else len(NUMPY_TARGETS)


def numpy_dispatch() -> dict:
    """Where numpy's float64 ufuncs dispatch: the count of each current target, the
    ufuncs above the cap, and those below the best target they have at or below it
    (e.g. the X86_V2 baseline because a misspelt value enabled nothing)."""
    from numpy.lib.introspect import opt_func_info

    cap = _target_rank(NUMPY_CAP)
    counts, above, below = {}, [], []
    for func, signatures in opt_func_info(signature="float64").items():
        for signature, info in signatures.items():
            current = info["current"]
            counts[current] = counts.get(current, 0) + 1
            rank = _target_rank(current)
            best = max((_target_rank(t) for t in info["available"].split()
                        if _target_rank(t) <= cap), default=0)
            if rank > cap:
                above.append(f"{func}/{signature}: {current}")
            elif rank < best:
                below.append(f"{func}/{signature}: {current}")
    info = opt_func_info(func_name="^(exp|log)$", signature="float64")
    return {"targets": dict(sorted(counts.items())),
            "exp": info["exp"]["dd"]["current"], "log": info["log"]["dd"]["current"],
            "above_cap": above, "below_cap": below}


def exp_log_canary() -> dict:
    """numpy's float64 ``exp`` and ``log`` against glibc's (``math.exp``, ``math.log``,
    what numpy's X86_V3 and baseline loops call) on fixed inputs: how many results differ
    in any bit; and the sha256 of glibc's own results (``libm``, compared with the
    reference's)."""
    x, y = _canary_inputs()
    glibc_exp = np.array([math.exp(v) for v in x])
    glibc_log = np.array([math.log(v) for v in y])
    libm = hashlib.sha256(glibc_exp.tobytes() + glibc_log.tobytes()).hexdigest()
    return {"inputs": len(x) + len(y),
            "exp_differs": int(np.sum(np.exp(x).view(np.int64) != glibc_exp.view(np.int64))),
            "log_differs": int(np.sum(np.log(y).view(np.int64) != glibc_log.view(np.int64))),
            "libm": libm}


def openblas() -> list[dict]:
    """Each loaded OpenBLAS (numpy's and scipy's) as ``threadpoolctl`` sees it: whose
    copy, kernel family (``architecture``), thread count, version."""
    import scipy.linalg  # noqa: F401  (loads scipy's copy, so threadpoolctl sees it)
    from threadpoolctl import threadpool_info

    out = []
    for lib in threadpool_info():
        if lib.get("internal_api") != "openblas":
            continue
        path = lib.get("filepath", "")
        owner = next((name for name in ("numpy", "scipy") if f"/{name}.libs/" in path
                      or f"/{name}/" in path), os.path.basename(path))
        out.append({"library": owner, "architecture": lib.get("architecture"),
                    "num_threads": lib.get("num_threads"), "version": lib.get("version")})
    return sorted(out, key=lambda lib: lib["library"])


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "mallopt"):
            libc.malloc.restype = ctypes.c_void_p
            libc.malloc.argtypes = [ctypes.c_size_t]
            libc.free.argtypes = [ctypes.c_void_p]
            return libc
    except OSError:
        pass
    return None


def _dynamic_loader() -> str | None:
    """The path of this process's dynamic loader (``ld-linux*``), from its memory map."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            for line in fh:
                path = line.split()[-1]
                if "/ld-linux" in path:
                    return path
    except OSError:
        pass
    return None


def glibc_tunables(environ=None) -> dict:
    """glibc's malloc tunables as its loader parses this environment (``ld.so
    --list-tunables``, glibc >= 2.33: a misspelt variable shows as the default); {}
    where that cannot be asked."""
    import subprocess

    loader = _dynamic_loader()
    if loader is None:
        return {}
    try:
        out = subprocess.run([loader, "--list-tunables"], capture_output=True, text=True,
                             timeout=10, env=dict(os.environ if environ is None
                                                  else environ)).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    tunables = {}
    for line in out.splitlines():
        name, _, rest = line.partition(":")
        if name.strip() in ("glibc.malloc.perturb", "glibc.malloc.mmap_threshold"):
            tunables[name.strip().rsplit(".", 1)[1]] = int(rest.split()[0], 0)
    return tunables


def malloc_settings() -> dict:
    """Whether glibc's allocator runs with the two repeatable settings (None without
    glibc): ``perturb``, probed with ``malloc`` itself (a fresh 4 KiB block comes filled
    with ``MALLOC_PERTURB_``'s byte inverted: glibc's ``alloc_perturb``); and the values
    glibc's loader parses from this environment (:func:`glibc_tunables`: the mmap
    threshold cannot be probed, since a block above it still comes from the heap while
    the heap has room)."""
    libc = _libc()
    if libc is None:
        return {"perturb": None, "tunables": {}}
    byte = int(BY_VARIABLE["MALLOC_PERTURB_"].value) ^ 0xFF
    block = libc.malloc(4096)
    perturbed = ctypes.string_at(block, 64) == bytes([byte]) * 64
    libc.free(block)
    return {"perturb": perturbed, "tunables": glibc_tunables()}


def tensorflow_canaries() -> dict:
    """TensorFlow's side (call only where TensorFlow is imported anyway): its thread
    pools, whether it sees a GPU (the jobs then compute there, outside the promise), and
    the sha256 of two computations compiled for the CPU on fixed inputs: ``tf_sgemm``,
    a float32 ``A^T B`` (400 x 26 by 400 x 2, the article's gradient shape), which
    oneDNN's AVX-512 sgemm kernels sum in another order than its AVX2 ones; ``xla_exp``,
    XLA's float32 and float64 ``exp``, which XLA computes differently without FMA."""
    import tensorflow as tf

    x, _ = _canary_inputs()
    # full-mantissa values (small integers would sum exactly in any order)
    a = tf.constant((((np.arange(400 * 26) * 37) % 251 - 125) / 97.0).reshape(400, 26),
                    tf.float32)
    b = tf.constant(((((np.arange(800) * 53) % 199) - 99) / 89.0).reshape(400, 2),
                    tf.float32)
    sgemm = tf.function(lambda a, b: tf.matmul(a, b, transpose_a=True), jit_compile=True)
    exp = tf.function(lambda v: (tf.exp(tf.cast(v, tf.float32)), tf.exp(v)),
                      jit_compile=True)
    with tf.device("/CPU:0"):
        e32, e64 = exp(tf.constant(x))
        product = sgemm(a, b)

    def digest(*arrays):
        return hashlib.sha256(b"".join(np.asarray(t).tobytes() for t in arrays)).hexdigest()

    return {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "tf_sgemm": digest(product), "xla_exp": digest(e32, e64)}


def canary_digests(tensorflow: bool = True) -> dict:
    """The canaries' digests in this process (to record :data:`REFERENCE_DIGESTS`)."""
    out = {"libm": exp_log_canary()["libm"]}
    if tensorflow:
        tf_side = tensorflow_canaries()
        out.update(tf_sgemm=tf_side["tf_sgemm"], xla_exp=tf_side["xla_exp"])
    return out


# --- the verdict -------------------------------------------------------------------------------

def chosen(*, tensorflow: bool = False, flags: set[str] | None = None) -> dict:
    """What each library chose in this process (see the module docstring)."""
    out = {"cpu": cpu(flags), "numpy": {**numpy_dispatch(), **exp_log_canary()},
           "openblas": openblas(), "malloc": malloc_settings()}
    if tensorflow:
        out["tensorflow"] = tensorflow_canaries()
    return out


def judge(plan: dict | None, environ, found: dict, *, threads: int | None = None,
          tensorflow: bool = False) -> tuple[list[str], list[str]]:
    """From what was asked (``plan``, None outside the workflow), what the environment
    holds and what the libraries chose (``found``, :func:`chosen`): ``errors`` (a
    setting the workflow needs that is not in effect: the job fails) and ``caveats``
    (why the job's artifacts are not promised to match the reference's). Pure, so a
    test can hand it any environment."""
    errors, caveats = [], []
    portable = plan is not None and plan.get("portable", False)
    requested = (plan or {}).get("requested", {})
    held = (plan or {}).get("held", {})

    def who(variable):
        return "held by the environment" if variable in held else "set by the workflow"

    if plan is None:
        caveats.append(f"outside the workflow: its settings ({PLAN_VARIABLE}) were not "
                       "applied to this process")
    elif not portable:
        caveats.append("opted out: numerics.portable is false in the config")
    elif not plan.get("capable", True):
        caveats.append("this CPU lacks AVX2 or FMA: it runs its own code paths")
    strict = portable and plan.get("capable", True)

    def fail_or_note(message):
        (errors if strict else caveats).append(message)

    # numpy: dispatch at the cap, exp/log equal glibc's
    npy = found["numpy"]
    npy_variable = ("NPY_DISABLE_CPU_FEATURES" if "NPY_DISABLE_CPU_FEATURES" in environ
                    else "NPY_ENABLE_CPU_FEATURES")
    npy_value = environ.get(npy_variable)
    if npy["above_cap"] or npy["below_cap"]:
        wrong = (npy["above_cap"] + npy["below_cap"])[:4]
        fail_or_note(f"numpy's dispatch is not at {NUMPY_CAP}: {npy_variable}="
                     f"{npy_value!r} ({who(npy_variable) if npy_value is not None else 'unset'}"
                     f") left {len(npy['above_cap'])} ufunc(s) above it and "
                     f"{len(npy['below_cap'])} below it (e.g. {', '.join(wrong)}); numpy "
                     "ignores a misspelt name or value without a word")
    elif npy["exp_differs"] or npy["log_differs"]:
        fail_or_note(f"numpy's float64 exp/log differ from glibc's on "
                     f"{npy['exp_differs']}/{npy['log_differs']} of the canary's inputs "
                     f"although its dispatch is at {NUMPY_CAP}")
    if npy["libm"] != REFERENCE_DIGESTS["libm"]:
        caveats.append(f"glibc's exp/log give other bits than the reference's "
                       f"({found['cpu'].get('libc')}): another C library or its non-FMA "
                       "code")

    # OpenBLAS: the kernel, the thread count
    coretype = environ.get("OPENBLAS_CORETYPE")
    for lib in found["openblas"]:
        arch = lib["architecture"]
        if "OPENBLAS_CORETYPE" in requested and "OPENBLAS_CORETYPE" not in held:
            if arch is not None and arch.lower() != BLAS_KERNEL.lower():
                fail_or_note(f"OPENBLAS_CORETYPE={coretype!r} was set by the workflow but "
                             f"{lib['library']}'s OpenBLAS runs its {arch} kernels")
        elif arch is not None and arch.lower() != BLAS_KERNEL.lower():
            source = (f"OPENBLAS_CORETYPE={coretype!r} held by the environment"
                      if coretype else "chosen by OpenBLAS for this CPU")
            caveats.append(f"{lib['library']}'s OpenBLAS runs its {arch} kernels ({source}"
                           f"), the reference its {BLAS_KERNEL} kernels: sums of many "
                           "terms (J^T J) can differ in the last bit and fits end elsewhere")
        want = str(BLAS_THREADS) if strict else environ.get("OPENBLAS_NUM_THREADS")
        if want and want.isdigit() and lib["num_threads"] != int(want):
            fail_or_note(f"{lib['library']}'s OpenBLAS runs {lib['num_threads']} threads, "
                         f"not {want} ({'pin_blas_threads' if strict else 'OPENBLAS_NUM_THREADS'})")
    if "OPENBLAS_L2_SIZE" in environ:
        caveats.append(f"OPENBLAS_L2_SIZE={environ['OPENBLAS_L2_SIZE']!r} is held by the "
                       "environment (a machine's own BLAS setting; OpenBLAS may size its "
                       "blocks by it; the reference ran without it)")

    # glibc's allocator (both modes ask for it)
    mem = found["malloc"]
    tunables = mem.get("tunables") or {}
    for variable, key in (("MALLOC_PERTURB_", "perturb"),
                          ("MALLOC_MMAP_THRESHOLD_", "mmap_threshold")):
        want = BY_VARIABLE[variable].value
        wrong = (tunables and tunables.get(key) != int(want)) or \
            (key == "perturb" and mem["perturb"] is False)
        if wrong and variable in requested:
            errors.append(f"{variable}={environ.get(variable)!r}: glibc runs with "
                          f"{key} {tunables.get(key)} (probe: {mem['perturb']}), not {want}")

    # the held values the workflow could not replace, for settings it does not leave to
    # the machine
    for variable, value in requested.items():
        s = BY_VARIABLE[variable]
        if s.machine or variable not in held or variable in ("NPY_ENABLE_CPU_FEATURES",):
            continue
        if variable == "XLA_FLAGS":
            if _xla_isa(held[variable]) not in (None, XLA_ISA):
                fail_or_note(f"XLA_FLAGS held by the environment sets {XLA_ISA_FLAG}="
                             f"{_xla_isa(held[variable])}, not {XLA_ISA}")
        elif held[variable] != value and variable in requested and strict:
            errors.append(f"{variable}={held[variable]!r} is held by the environment, not "
                          f"{value!r} ({s.fixes}): unset it, or set numerics: "
                          "{portable: false}")
    isa = _xla_isa(environ.get("XLA_FLAGS", ""))
    if isa is not None and isa not in XLA_ISAS:
        fail_or_note(f"XLA_FLAGS sets {XLA_ISA_FLAG}={isa}, which XLA does not know (it "
                     f"ignores it with a warning); known: {', '.join(XLA_ISAS)}")

    # TensorFlow: thread pools and the two canaries
    if tensorflow and "tensorflow" in found:
        tf_side = found["tensorflow"]
        if threads:
            for pool in ("intra_op_threads", "inter_op_threads"):
                if tf_side[pool] != threads:
                    errors.append(f"TensorFlow's {pool.replace('_', '-')} pool has "
                                  f"{tf_side[pool]} threads, the job {threads}")
        if tf_side["tf_sgemm"] == AVX512_DIGESTS["tf_sgemm"]:
            fail_or_note(f"TensorFlow's float32 product gives oneDNN's AVX-512 bits: "
                         f"ONEDNN_MAX_CPU_ISA={environ.get('ONEDNN_MAX_CPU_ISA')!r} is "
                         "not in effect (oneDNN ignores an unknown value)")
        elif tf_side["tf_sgemm"] != REFERENCE_DIGESTS["tf_sgemm"]:
            caveats.append("TensorFlow's float32 product (oneDNN sgemm) gives other bits "
                           "than the reference's: this CPU's kernels or another oneDNN")
        if tf_side.get("gpus"):
            caveats.append("TensorFlow computes on a GPU here: the promise covers CPUs")
        if tf_side["xla_exp"] != REFERENCE_DIGESTS["xla_exp"]:
            caveats.append("XLA's compiled exp gives other bits than the reference's "
                           "(XLA without FMA, or another XLA)")
    if not (plan or {}).get("capable", True) and strict:
        caveats.append("this CPU lacks AVX2 or FMA")
    return errors, caveats


def check(*, threads: int | None = None, tensorflow: bool = False, environ=None,
          flags: set[str] | None = None) -> dict:
    """The job-start check (module docstring): what was asked, held and chosen, and the
    verdict. Raises :class:`NumericsError` naming each setting the workflow needs that
    is not in effect; otherwise returns the record (``portable`` and ``why``) and logs
    a warning when the job is not portable."""
    environ = os.environ if environ is None else environ
    plan = read_plan(environ)
    found = chosen(tensorflow=tensorflow, flags=flags)
    errors, caveats = judge(plan, environ, found, threads=threads, tensorflow=tensorflow)
    if errors:
        raise NumericsError("the portable numerics are not in effect (numerics.portable "
                            "in the config turns them off):\n  " + "\n  ".join(errors))
    record = {"mode": ("outside the workflow" if plan is None else
                       "portable" if plan.get("portable") else "opted out"),
              "requested": (plan or {}).get("requested", {}),
              "held": (plan or {}).get("held", {}),
              "environment": {v: environ[v] for v in RECORDED + THREAD_VARIABLES
                              if v in environ},
              "chosen": found, "portable": not caveats,
              "why": caveats or ["every setting in effect; canaries give the reference's "
                                 "bits"]}
    if caveats and plan is not None:
        log.warning("numerics not portable: %s", "; ".join(caveats))
    return record


_RECORD: dict | None = None


def pin_blas_threads(environ=None) -> bool:
    """In a portable job, run each loaded OpenBLAS (numpy's and scipy's) with
    :data:`BLAS_THREADS` threads from now on (``threadpoolctl``), whatever the rule's
    ``threads`` (Snakemake sets ``OPENBLAS_NUM_THREADS`` to them; TensorFlow keeps
    them). One thread takes the thread count out of every BLAS sum, and it is the fast
    choice for this pipeline's products (at most 800 x 127). Measured here (the study's
    LM, closed-form Jacobian, the article's problem, 200 iterations; 2 cores shared with
    other work): with the Haswell kernels on two threads 3.46 s against 0.34 s on one at
    a load of ~8, 0.45 s against 0.24 s at a load of ~1.3; the SkylakeX kernels 0.24 s
    on one or two threads, and with numpy also capped 0.26 s (the portable settings'
    cost there: ~9%). Returns whether it pinned (not in an opted-out job or outside the
    workflow)."""
    plan = read_plan(environ)
    if not (plan and plan.get("portable") and plan.get("capable", True)):
        return False
    import scipy.linalg  # noqa: F401  (loads scipy's copy, so threadpoolctl sees it)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=BLAS_THREADS, user_api="blas")
    return True


def job_record(*, threads: int | None = None, tensorflow: bool = False,
               refresh: bool = False) -> dict:
    """:func:`check`'s record for this process, computed once (a job's start computes
    it with its threads and TensorFlow; a process that never ran the check gets the
    host-only check on first use)."""
    global _RECORD
    if _RECORD is None or refresh:
        _RECORD = check(threads=threads, tensorflow=tensorflow)
    return _RECORD
