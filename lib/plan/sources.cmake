# plan: the layout of one MoE layer and its host executor (no transport code:
# bytes move through sam::exchange).
list(APPEND SAM_SOURCES
  ${SAM_LAYER_DIR}/layout.cc
  ${SAM_LAYER_DIR}/dtype_convert.cc
  ${SAM_LAYER_DIR}/host_steps.cc
  ${SAM_LAYER_DIR}/host_executor.cc
  ${SAM_LAYER_DIR}/plan_create.cc
  ${SAM_LAYER_DIR}/plan_api.cc)
# The per-element loops of the host executor (conversions, weighted sums) are
# its hot path: let the compiler vectorize them whatever the build type.
set_source_files_properties(${SAM_LAYER_DIR}/dtype_convert.cc ${SAM_LAYER_DIR}/host_steps.cc
  PROPERTIES COMPILE_OPTIONS "-O3")
