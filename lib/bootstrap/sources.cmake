list(APPEND SAM_SOURCES
  ${SAM_LAYER_DIR}/wire.cc
  ${SAM_LAYER_DIR}/unique_id.cc
  ${SAM_LAYER_DIR}/secret.cc
  ${SAM_LAYER_DIR}/net_if.cc
  ${SAM_LAYER_DIR}/tcp_io.cc
  ${SAM_LAYER_DIR}/root_listener.cc
  ${SAM_LAYER_DIR}/tcp_bootstrap.cc)
