list(APPEND SAM_SOURCES
  ${SAM_LAYER_DIR}/error.cc
  ${SAM_LAYER_DIR}/log.cc
  ${SAM_LAYER_DIR}/params.cc
  ${SAM_LAYER_DIR}/half.cc)
