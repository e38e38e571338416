#!/usr/bin/env bash
# Build IBM aihwkit 1.2.0 (CPU only) from its PyPI sdist against the OpenBLAS of the scipy-openblas32 wheel, in its
# own environment (never biosim's: aihwkit is a benchmark anchor, not a dependency). About 17 min on 2 cores.
# Then: AIHWKIT_PYTHON=$VENV/bin/python python benchmarks/crossbar.py
set -euo pipefail
VENV=${VENV:-/tmp/aihw_venv}
BUILD=${BUILD:-/tmp/aihw_build}

# 1. venv + build deps (torch pinned to the locally cached CPU build)
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
"$VENV/bin/pip" install torch==2.13.0 "numpy<2.4" scikit-build pybind11 cmake ninja \
    scipy-openblas32 wheel "setuptools>=77" mypy scipy

# 2. fetch + unpack sdist (--no-build-isolation so metadata uses the venv's skbuild)
mkdir -p "$BUILD" && cd "$BUILD"
"$VENV/bin/pip" download --no-deps --no-build-isolation --no-binary :all: aihwkit==1.2.0
tar xzf aihwkit-1.2.0.tar.gz

# 3. BLAS shim: scipy-openblas32 prefixes every symbol with scipy_ (scipy_cblas_sgemm, ...)
#    and names the lib libscipy_openblas.so. aihwkit calls plain cblas_* and includes "cblas.h",
#    and FindOpenBLAS.cmake looks for openblas_config.h. The shim maps names by macros.
OB_INC=$("$VENV/bin/python" -c "import scipy_openblas32 as s; print(s.get_include_dir())")
OB_LIB=$("$VENV/bin/python" -c "import scipy_openblas32 as s; print(s.get_lib_dir())")
SHIM="$BUILD/blas_shim/include"
mkdir -p "$SHIM"
echo "#include \"$OB_INC/openblas_config.h\"" > "$SHIM/openblas_config.h"
{
  echo "#ifndef AIHW_CBLAS_SHIM_H"
  echo "#define AIHW_CBLAS_SHIM_H"
  grep -oE '\bscipy_(cblas|openblas|goto)_[A-Za-z0-9_]+' "$OB_INC/cblas.h" | sort -u | \
    sed -E 's/^scipy_(.*)$/#define \1 scipy_\1/'
  echo "#include \"$OB_INC/cblas.h\""
  echo "#endif"
} > "$SHIM/cblas.h"

# 4. build + install (CPU only), 2 jobs, rpath to the OpenBLAS wheel's lib dir
cd "$BUILD/aihwkit-1.2.0"
export USE_CUDA=OFF
export CMAKE_BUILD_PARALLEL_LEVEL=2
export CMAKE_ARGS="-DUSE_CUDA=OFF -DRPU_BLAS=OpenBLAS -DOpenBLAS_INCLUDE_DIR=$SHIM -DOpenBLAS_LIB=$OB_LIB/libscipy_openblas.so -DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath,$OB_LIB -DCMAKE_MODULE_LINKER_FLAGS=-Wl,-rpath,$OB_LIB"
export PATH="$VENV/bin:$PATH"   # stubgen (mypy) is called in a POST_BUILD step
nice -n 10 "$VENV/bin/pip" install -v --no-build-isolation --no-deps . 2>&1 | tee "$BUILD/build.log"

# 5. smoke test (outside the source tree, so that the installed package is imported)
cd /tmp && "$VENV/bin/python" -c "import torch, aihwkit; from aihwkit.nn import AnalogLinear; print('aihwkit', aihwkit.__version__)"
