# transport: the block exchange and the host backend's transports.

# Host backend core: the exchange, the per-communicator state, self and
# shared-memory transports (owned by the plan/host data path).
list(APPEND SAM_SOURCES
  ${SAM_LAYER_DIR}/exchange.cc
  ${SAM_LAYER_DIR}/host_backend.cc
  ${SAM_LAYER_DIR}/self/self_transport.cc
  ${SAM_LAYER_DIR}/shm/shm_window.cc
  ${SAM_LAYER_DIR}/shm/shm_transport.cc)

# UCX: the between-node transport of the host backend (lib/transport/ucx).
if(SAM_HAVE_UCX)
  list(APPEND SAM_SOURCES
    ${SAM_LAYER_DIR}/ucx/ucx_setup.cc
    ${SAM_LAYER_DIR}/ucx/ucx_exchange.cc
    ${SAM_LAYER_DIR}/ucx/ucx_teardown.cc)
endif()
