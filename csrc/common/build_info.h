// What this build of hpefast._C is: reported by _C.build_info() (hpefast.build_info(), `hpefast --version`)
// and checked by hpefast/_ext.py against the Python package so that a stale extension fails at import.
#pragma once
#include <string>

namespace hpefast {

// Bumped whenever the Python-visible calling convention of _C changes (argument order, op names);
// hpefast/_ext.py states the value it expects.
constexpr int kExtensionApi = 2;

struct BuildInfo {
  std::string version;      // the package version the extension was built for (pyproject.toml)
  std::string git_hash;     // commit of the source tree, "unknown" outside a git checkout
  bool git_dirty = false;   // csrc / CMakeLists.txt differed from that commit
  std::string source_hash;  // sha256 of the compiled sources (csrc/build_stamp.cmake)
  bool cuda = false;        // CUDA kernels compiled in
  std::string cuda_version;        // nvcc version ("" without CUDA)
  std::string cuda_architectures;  // CMAKE_CUDA_ARCHITECTURES ("" without CUDA)
  std::string compiler;            // C++ compiler id and version
  std::string build_type;          // CMAKE_BUILD_TYPE
};

BuildInfo build_info();

}  // namespace hpefast
