// The only file that sees the build stamp and the configure-time facts, so a new commit recompiles
// this file alone.
#include "common/build_info.h"

#include "hpefast_build_stamp.h"  // generated into the build tree by csrc/build_stamp.cmake

namespace hpefast {

BuildInfo build_info() {
  BuildInfo b;
  b.version = HPEFAST_VERSION;
  b.git_hash = HPEFAST_GIT_HASH;
  b.git_dirty = HPEFAST_GIT_DIRTY;
  b.source_hash = HPEFAST_SOURCE_HASH;
#ifdef HPEFAST_WITH_CUDA
  b.cuda = true;
#endif
  b.cuda_version = HPEFAST_CUDA_VERSION;
  b.cuda_architectures = HPEFAST_CUDA_ARCHITECTURES;
  b.compiler = HPEFAST_COMPILER;
  b.build_type = HPEFAST_BUILD_TYPE;
  return b;
}

}  // namespace hpefast
