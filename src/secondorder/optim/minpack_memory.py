"""What a call into scipy's MINPACK needs from the memory around it.

scipy >= 1.16 runs MINPACK as C code (``scipy/optimize/src/minpack.c``). In 1.17.1 its
``qrfac``, when it recomputes a column norm that cancellation has made inaccurate,
passes ``enorm`` one element too many (``m - j`` for the ``m - j - 1`` rows below the
pivot; scipy's later source has ``m-j-1``). For the last column that element lies one
``double`` past the end of the Jacobian, which the C wrapper allocates with ``malloc``:
valgrind reports "Invalid read of size 8 ... 0 bytes after a block of size 34,560" (the
160 x 27 Jacobian of the tiny test network) in ``enorm`` called by ``qrfac`` in
``lmdif``. The value read is whatever that heap block held before, so the same call on
the same numbers takes another path now and then: in about 1 process in 20 on the
tiny config, and in most runs when a few arrays were allocated and freed before the
call. The branch is rare; most fits never reach it. The other columns read the first
element of the next column: wrong by MINPACK's Fortran, but the same every time.

The remedy is glibc's "perturb" setting: every block freed is filled with one byte
(all but its last eight bytes, where glibc keeps its own bookkeeping). With the byte
``0x01``, what lies past the Jacobian is then, in practice, ``0x0101...`` (7.7e-304),
zero (fresh memory) or a block size (a denormal): all far below ``enorm``'s threshold
for small components (3.8e-20), where they cannot change a norm that has any ordinary
component, so the recomputed norm is the Fortran's. The workflow sets it for every job
from its start (``MALLOC_PERTURB_=1``, :data:`secondorder.numerics.SETTINGS`, checked at
each job's start);
:func:`scrub_freed_blocks`, called before each MINPACK call, turns it on in any other
process from then on. Blocks freed before that keep their old bytes, and a block freed
on purpose with a large number in exactly its last eight bytes at exactly that address
still changes the fit; so this makes fits repeatable in practice, not by construction.
Measured here on the tiny config's fit: without it, 2 of 40 fresh processes (20 fits
each) ended a fit elsewhere, and 20 fits separated by heap churn ended on 2 different
weight vectors; with the setting from the process's start, 0 of 30 processes (with
arrays allocated and freed between fits); with :func:`scrub_freed_blocks` alone, 0 of
75 such processes and 1 vector, but in the workflow's tiny runs, turned on only at the
call, the finite-difference fits still differed between runs (3 of the test suite's
run comparisons in one session), while with the setting from each job's start a whole
test session agreed. The fill costs memory traffic: with it on for whole study jobs,
~3% of Adam's time and ~9% of our LM's; the bench turns it off before each of its
stages (a MINPACK stage turns it on again for itself), so that no engine pays it.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: ``mallopt``'s parameter for the perturb byte (glibc ``malloc.h``).
M_PERTURB = -6
#: The byte freed blocks are filled with (the same as ``MALLOC_PERTURB_``'s value).
PERTURB_BYTE = 1


def _mallopt():
    """glibc's ``mallopt``, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None


_MALLOPT = _mallopt()


def scrub_freed_blocks() -> bool:
    """From now on, glibc fills every freed block with :data:`PERTURB_BYTE` (see the
    module docstring); it stays on, since what is freed between two MINPACK calls lies
    in wait for the next. Returns False where there is no glibc."""
    return bool(_MALLOPT is not None and _MALLOPT(M_PERTURB, PERTURB_BYTE))


def stop_scrubbing() -> None:
    """Freed blocks are left as they are again (glibc's default): for a process that
    times other code after its MINPACK calls (the bench), where the fill would cost."""
    if _MALLOPT is not None:
        _MALLOPT(M_PERTURB, 0)
