# UCX: the between-node transport of the host backend (lib/transport/ucx).
if(SAM_HAVE_UCX)
  list(APPEND SAM_SOURCES ${SAM_LAYER_DIR}/ucx/ucx_transport.cc)
endif()
