# lib_mpi.sh — sourced by the MPI test scripts (tests/mpi_*.sh, `make test-mpi`) from the
# repository root: $MPIRUN (MPIRUN_FLAGS adds options), a scratch folder $T (kept with KEEP=1),
# the ok/bad counters and summary, and build-mpi/ built with `make MPI=1` (exits when OpenMPI
# is missing or the build fails). Not a test itself.
MPIRUN="mpirun --allow-run-as-root --oversubscribe --bind-to none ${MPIRUN_FLAGS:-}"
T=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
summary() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }

command -v mpicc >/dev/null && command -v mpirun >/dev/null || {
    echo "mpicc/mpirun not found: apt-get install libopenmpi-dev openmpi-bin"; exit 1; }
make -s MPI=1 -j2 all >"$T/build.log" 2>&1 || { cat "$T/build.log"; echo "FAIL make MPI=1"; exit 1; }
