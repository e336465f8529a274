# UCX: the between-node transport of the host backend (lib/transport/ucx).
if(SAM_HAVE_UCX)
  list(APPEND SAM_SOURCES
    ${SAM_LAYER_DIR}/ucx/ucx_setup.cc
    ${SAM_LAYER_DIR}/ucx/ucx_exchange.cc
    ${SAM_LAYER_DIR}/ucx/ucx_teardown.cc)
endif()
