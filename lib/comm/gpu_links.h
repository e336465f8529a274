// GPU-aware link classes between the ranks of one node (cuda backend).
#pragma once

#include "comm/comm.h"

namespace sam {

// For the cuda backend: each rank finds its CUDA device in the topology of its
// machine (samTopologyDiscover's source: SAM_TOPO_FILE or the live machine),
// and the ranks allgather the PCI bus id of their GPU with the link classes
// from it to every GPU of the machine. Ranks of one node then get the
// GPU-to-GPU class (NVL, PIX, PXB, PHB, NODE, SYS) instead of NODE, and
// cluster.gpuBusId is filled. The CUDA device defaults to the local rank
// modulo the GPUs of the machine. A rank without a GPU keeps NODE links and
// an empty bus id. Collective over all ranks.
samResult_t addGpuLinks(samComm* comm, bool cudaDeviceWasChosen);

}  // namespace sam
