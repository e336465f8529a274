# topology/: hwloc discovery, the topology model, link classes and costs.
# (The sam-topo CLI is built by topology/CMakeLists.txt against the shared library.)
list(APPEND SAM_SOURCES
  ${SAM_LAYER_DIR}/hwloc_load.cc
  ${SAM_LAYER_DIR}/pci_path.cc
  ${SAM_LAYER_DIR}/nvlink.cc
  ${SAM_LAYER_DIR}/gpu_probe.cc
  ${SAM_LAYER_DIR}/link_cost.cc
  ${SAM_LAYER_DIR}/model.cc
  ${SAM_LAYER_DIR}/topology_api.cc)
