list(APPEND SAM_SOURCES
  ${SAM_LAYER_DIR}/config.cc
  ${SAM_LAYER_DIR}/cluster.cc
  ${SAM_LAYER_DIR}/init.cc
  ${SAM_LAYER_DIR}/env_init.cc
  ${SAM_LAYER_DIR}/api.cc)
