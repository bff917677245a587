#!/usr/bin/env bash
# Development build: compiles hpefast._C in place (hpefast/_C*.so) so that `PYTHONPATH=$PWD pytest ...`
# tests the working tree without reinstalling. Serialised with flock: several builds may be asked at once.
#   scripts/dev_build.sh          CPU only (fast)
#   HPEFAST_CUDA=ON scripts/dev_build.sh    also compile the CUDA kernels (into build/dev-cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
cuda="${HPEFAST_CUDA:-OFF}"
dir="build/dev-$( [ "$cuda" = OFF ] && echo cpu || echo cuda )"
exec 9>build.lock
flock 9
pybind_dir="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')"
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" -DHPEFAST_CUDA="$cuda" -DHPEFAST_DEV_INPLACE=ON -Dpybind11_DIR="$pybind_dir" \
    -DCMAKE_BUILD_TYPE=Release > /dev/null
fi
if ! cmake --build "$dir" -j 2 > "$dir/build.log" 2>&1; then
  grep -vE '^\[ *[0-9]+%\]' "$dir/build.log" >&2
  exit 1
fi
for so in "$dir"/inplace/_C*.so; do
  cp "$so" "hpefast/.$(basename "$so").tmp"
  mv -f "hpefast/.$(basename "$so").tmp" "hpefast/$(basename "$so")"
done
