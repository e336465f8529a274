# Routing: the CPU reference (the definition) and the CUDA kernels.
list(APPEND SAM_SOURCES
  ${SAM_LAYER_DIR}/route_config.cc
  ${SAM_LAYER_DIR}/route_ref.cc
  ${SAM_LAYER_DIR}/route_api.cc)
list(APPEND SAM_CUDA_SOURCES
  ${SAM_LAYER_DIR}/route_cuda.cu)
# Both backends must round every float operation alike (route_math.h): no
# contraction of a*b+c into an fma unless written as fmaf.
set_source_files_properties(${SAM_LAYER_DIR}/route_ref.cc PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
set_source_files_properties(${SAM_LAYER_DIR}/route_cuda.cu PROPERTIES COMPILE_OPTIONS "--fmad=false")
