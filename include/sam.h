/*
 * sam.h: the one public header of libsam, a communication runtime for
 * Mixture-of-Experts layers (SAM routing: Switch, then Mixture).
 *
 * C99 and C++ compatible. Conventions (docs/API.md):
 *  - every call returns samResult_t; samGetLastError() gives the detail of the
 *    last failure on the calling thread, naming the argument or rank at fault;
 *  - out-parameters come last and are written only on success;
 *  - opaque handles; destroy(NULL) is a no-op returning samSuccess;
 *  - structs passed in start with a size and version (set by the INITIALIZER
 *    macros) so fields can be appended without breaking callers;
 *  - stream-ordered calls take a cudaStream_t as void* (NULL on the host backend).
 *
 * The version below is read by CMake: keep the three SAM_MAJOR/MINOR/PATCH lines.
 */
#ifndef SAM_H_
#define SAM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */
#define SAM_MAJOR 0
#define SAM_MINOR 1
#define SAM_PATCH 0
/* One encoding, kept forever: MAJOR*10000 + MINOR*100 + PATCH. */
#define SAM_VERSION_CODE (SAM_MAJOR * 10000 + SAM_MINOR * 100 + SAM_PATCH)
#define SAM_VERSION(X, Y, Z) ((X) * 10000 + (Y) * 100 + (Z))

#if defined(_WIN32)
#define SAM_API
#else
#define SAM_API __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------- results */
/* New codes may be added; callers must treat unknown values as failures. */
typedef enum {
  samSuccess = 0,
  samInvalidArgument = 1, /* a bad value or pointer: the last error names it */
  samInvalidUsage = 2,    /* a call out of order, or on an aborted communicator */
  samSystemError = 3,     /* the OS failed us: sockets, shared memory, files */
  samInternalError = 4,   /* a bug in libsam */
  samTimeout = 5,         /* a peer did not answer within the timeout */
  samRemoteError = 6,     /* a peer failed or went away */
  samNotSupported = 7,    /* not built in (CUDA, NCCL, UCX) or not on this machine */
  samOutOfMemory = 8,
  samCudaError = 9,       /* a CUDA runtime or driver call failed */
  samNumericError = 10,   /* NaN or Inf where a finite value is required */
  samNumResults = 11
} samResult_t;

SAM_API const char* samGetErrorString(samResult_t result);
/* The text of the last failure on this thread ("" if none). Valid until the
 * next libsam call on this thread. */
SAM_API const char* samGetLastError(void);
/* SAM_VERSION_CODE of the library actually loaded. */
SAM_API samResult_t samGetVersion(int* version);

/* ---------------------------------------------------------------- dtypes */
typedef enum {
  samFloat32 = 0,
  samFloat16 = 1,
  samBfloat16 = 2,
  samInt32 = 3,
  samFloat64 = 4,
  samNumDataTypes = 5
} samDataType_t;

SAM_API samResult_t samDataTypeSize(samDataType_t dtype, size_t* bytes);

/* ------------------------------------------------------- env knobs (SAM_*) */
/* Every environment knob libsam reads, with its default and a line of help.
 * index runs from 0 to the count minus one. value is the current setting
 * (the environment, or the default when unset). */
typedef struct {
  const char* name;
  const char* defaultValue;
  const char* value;
  const char* help;
} samParamInfo_t;
SAM_API samResult_t samParamCount(int* count);
SAM_API samResult_t samParamGet(int index, samParamInfo_t* info);

/* ================================================================ topology */
typedef struct samTopology* samTopology_t;

/* Link classes between two GPUs, as `nvidia-smi topo -m` names them, from the
 * closest to the farthest. NET is used between ranks on different nodes. */
typedef enum {
  samLinkSelf = 0,
  samLinkNvl = 1,  /* NVLink, directly or through NVSwitches */
  samLinkPix = 2,  /* at most one PCIe bridge */
  samLinkPxb = 3,  /* several PCIe bridges, no host bridge */
  samLinkPhb = 4,  /* through a PCIe host bridge (one CPU) */
  samLinkNode = 5, /* between host bridges of one NUMA node */
  samLinkSys = 6,  /* across NUMA nodes (SMP interconnect) */
  samLinkNet = 7,  /* between nodes, over the network */
  samNumLinkClasses = 8
} samLinkClass_t;
/* "SELF", "NVL", "PIX", "PXB", "PHB", "NODE", "SYS", "NET". */
SAM_API const char* samLinkClassString(samLinkClass_t link);

typedef enum {
  samTopoPackages = 0,
  samTopoNumaNodes = 1,
  samTopoCores = 2,
  samTopoPus = 3,
  samTopoGpus = 4,
  samTopoNics = 5
} samTopoCount_t;

#define SAM_NAME_MAX 128
#define SAM_PCI_ID_MAX 32

typedef struct {
  int index;                    /* 0..gpus-1, in PCI bus order */
  char name[SAM_NAME_MAX];      /* e.g. "NVIDIA H200"; "" if unknown */
  char uuid[SAM_NAME_MAX];      /* "GPU-..." where known, else "" */
  char pciBusId[SAM_PCI_ID_MAX];/* "0000:84:00.0" */
  int numa;                     /* NUMA node os index, -1 if unknown */
  int cudaIndex;                /* CUDA device ordinal where known, else -1 */
  int nearestNic;               /* index into the NIC list, -1 if none: the
                                   closest PCIe class, ib before eth on a tie */
} samGpuInfo_t;

/* ib: an OpenFabrics (verbs) device, InfiniBand or RoCE; eth: any other
 * network interface. Ordered by PCI bus id, virtual interfaces last. */
typedef enum { samNicIb = 0, samNicEth = 1 } samNicKind_t;

typedef struct {
  int index;
  char name[SAM_NAME_MAX];      /* "mlx5_0", "eth0" */
  char netdev[SAM_NAME_MAX];    /* the network interface of an IB HCA ("ib0"), or "" */
  samNicKind_t kind;
  char pciBusId[SAM_PCI_ID_MAX];/* "" for a virtual interface */
  int numa;
} samNicInfo_t;

typedef struct {
  samLinkClass_t linkClass;
  int nvlinks;          /* number of NVLinks where known (NV#), else 0 */
  double bandwidthGBps; /* estimated one-way bandwidth, GB/s */
} samLinkInfo_t;

/* The live machine (hwloc, completed by NVML and the CUDA driver, loaded at
 * run time, when a driver is present). SAM_TOPO_FILE loads that XML file
 * instead; SAM_TOPO_DUMP_FILE saves what was found. */
SAM_API samResult_t samTopologyDiscover(samTopology_t* topo);
/* A saved hwloc XML topology (lstopo --of xml, sam-topo --of xml). A missing,
 * empty, malformed or truncated file fails with a last error naming it. */
SAM_API samResult_t samTopologyLoadXml(const char* path, samTopology_t* topo);
/* Save as hwloc XML, loadable by samTopologyLoadXml and lstopo -i. */
SAM_API samResult_t samTopologySaveXml(samTopology_t topo, const char* path);
SAM_API samResult_t samTopologyGetCount(samTopology_t topo, samTopoCount_t what, int* count);
SAM_API samResult_t samTopologyGetGpu(samTopology_t topo, int index, samGpuInfo_t* info);
SAM_API samResult_t samTopologyGetNic(samTopology_t topo, int index, samNicInfo_t* info);
/* The path between two GPUs: NVL where NVLink joins them (directly or
 * through NVSwitches), else the PCIe class. bandwidthGBps is an estimate
 * (docs/TOPOLOGY.md has the table); SELF has 0. */
SAM_API samResult_t samTopologyGetLink(samTopology_t topo, int gpuA, int gpuB, samLinkInfo_t* info);
/* The PCIe path between a GPU and a NIC (PIX..SYS; nvlinks is 0): what
 * nearestNic was chosen by. */
SAM_API samResult_t samTopologyGetNicLink(samTopology_t topo, int gpu, int nic, samLinkInfo_t* info);
SAM_API samResult_t samTopologyDestroy(samTopology_t topo);

/* ============================================================ communicator */
/* NCCL-style: one rank calls samGetUniqueId, ships the id to every rank by its
 * own means, and every rank calls samCommInitRank. Design: docs/COMM.md. */
#define SAM_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[SAM_UNIQUE_ID_BYTES]; /* root address, port, 128-bit secret */
} samUniqueId;

typedef struct samComm* samComm_t;

typedef enum { samBackendHost = 0, samBackendCuda = 1 } samBackend_t;

#define SAM_CONFIG_UNDEF_INT (-2147483647 - 1)
#define SAM_CONFIG_MAGIC 0x53414d43u /* "SAMC" */

/* Fields left at SAM_CONFIG_UNDEF_INT take the env knob, else the default.
 * backend and timeoutMs must be the same on every rank (init fails naming
 * the field otherwise). */
typedef struct {
  size_t size;          /* sizeof(samConfig_t) */
  unsigned int magic;   /* SAM_CONFIG_MAGIC */
  unsigned int version; /* SAM_VERSION_CODE */
  int backend;          /* samBackend_t; SAM_BACKEND, default host */
  int cudaDevice;       /* SAM_CUDA_DEVICE, default the local rank (cuda backend) */
  int timeoutMs;        /* SAM_TIMEOUT_MS (default 30000): bound on every wait for a peer */
  int blocking;         /* reserved: only 1 (init blocks until all ranks arrived) */
} samConfig_t;

#define SAM_CONFIG_INITIALIZER                                                   \
  {                                                                              \
    sizeof(samConfig_t), SAM_CONFIG_MAGIC, SAM_VERSION_CODE,                     \
        SAM_CONFIG_UNDEF_INT, SAM_CONFIG_UNDEF_INT, SAM_CONFIG_UNDEF_INT,        \
        SAM_CONFIG_UNDEF_INT                                                     \
  }

/* Called in the process of rank 0: starts the rendezvous listener (on the
 * interface chosen by SAM_SOCKET_IFNAME) in the background; ship the id to
 * every rank by your own means. */
SAM_API samResult_t samGetUniqueId(samUniqueId* id);
/* Collective over nranks processes. Fails within config->timeoutMs: samTimeout
 * naming the missing ranks, samInvalidArgument naming a field the ranks
 * disagree on (nranks, backend, timeoutMs). config may be NULL. */
SAM_API samResult_t samCommInitRank(samComm_t* comm, int nranks, samUniqueId id, int rank,
                                    const samConfig_t* config);
/* Rank, size and rendezvous from what the launcher set: torchrun (RANK,
 * WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; we listen on MASTER_PORT +
 * SAM_BOOTSTRAP_PORT_OFFSET), Open MPI (OMPI_COMM_WORLD_* plus SAM_ROOT_ADDR),
 * or SAM_RANK, SAM_NRANKS, SAM_ROOT_ADDR (host:port). SAM_SECRET, if set, is
 * the job's secret (32 hex digits); else one is derived from the environment. */
SAM_API samResult_t samCommInitFromEnv(samComm_t* comm, const samConfig_t* config);
/* Frees the communicator (local: no synchronisation with the peers). */
SAM_API samResult_t samCommDestroy(samComm_t comm);
/* Always returns at once; wakes any call of this process blocked on comm (it
 * returns samInvalidUsage) and closes the connections so peers fail fast.
 * Unlike ncclCommAbort it does not free: call samCommDestroy afterwards. */
SAM_API samResult_t samCommAbort(samComm_t comm);
/* A failure found after a call returned (a peer died, a timeout). */
SAM_API samResult_t samCommGetAsyncError(samComm_t comm, samResult_t* asyncError);

SAM_API samResult_t samCommRank(samComm_t comm, int* rank);
SAM_API samResult_t samCommSize(samComm_t comm, int* size);
/* Nodes are hosts (SAM_HOST_ID or hostname + boot id), numbered by their lowest rank. */
SAM_API samResult_t samCommNodeCount(samComm_t comm, int* nodes);
SAM_API samResult_t samCommNode(samComm_t comm, int* node);
/* Index of this rank among the ranks of its node, in rank order. */
SAM_API samResult_t samCommLocalRank(samComm_t comm, int* localRank);
SAM_API samResult_t samCommLocalSize(samComm_t comm, int* localSize);
/* nodes[r] for every rank r (an array of samCommSize entries). */
SAM_API samResult_t samCommRankNodes(samComm_t comm, int* nodes);
/* SELF for a rank with itself, NET between nodes, NODE within a node. */
SAM_API samResult_t samCommLinkClass(samComm_t comm, int rankA, int rankB, samLinkClass_t* link);
/* Fails within the timeout if a peer died (samRemoteError) or does not come
 * (samTimeout, naming it); the communicator is then broken for good. */
SAM_API samResult_t samCommBarrier(samComm_t comm);

/* ================================================================= routing */
typedef enum { samScoreSoftmax = 0, samScoreSigmoid = 1 } samScoreFunc_t;

typedef enum {
  samGroupReduceSum = 0,  /* SAM: the probability mass of the group */
  samGroupReduceMax = 1,  /* DeepSeek-V2 */
  samGroupReduceTopN = 2  /* DeepSeek-V3: sum of the top groupReduceTopN */
} samGroupReduce_t;

typedef enum {
  samPresetSwitch = 0,
  samPresetGshard = 1,
  samPresetSam = 2,
  samPresetDeepseekV2 = 3,
  samPresetDeepseekV3 = 4
} samRoutePreset_t;

#define SAM_ROUTE_CONFIG_MAGIC 0x53414d52u /* "SAMR" */

/* Routing semantics: docs/ROUTING.md (ARCHITECTURE §1). Experts are placed
 * contiguously: expert e lives on rank e / (numExperts / numRanks). */
typedef struct {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int numExperts;        /* E */
  int numRanks;          /* R: E % R == 0 */
  int numGroups;         /* G: E % G == 0; 0 = one group per rank (G = R) */
  int groupsPerToken;    /* M: 1..G (G = no limit) */
  int nodeLimit;         /* N: 0 = none; else needs rankNodes */
  const int* rankNodes;  /* [numRanks] node of each rank (host memory), or NULL */
  int topk;              /* k */
  samScoreFunc_t scoreFunc;
  samGroupReduce_t groupReduce;
  int groupReduceTopN;   /* n for samGroupReduceTopN */
  int renormalize;       /* 1: w_i /= sum w */
  float scale;           /* multiplies the weights (default 1) */
  float capacityFactor;  /* 0 = dropless; else per-rank capacity factor */
  const float* selectionBias; /* [E] added for selection only, or NULL; same
                                 memory space as the logits */
} samRouteConfig_t;

/* Every field zero or default (numGroups 0 = one per rank, scale 1, softmax,
 * sum, dropless): set numExperts, numRanks, groupsPerToken and topk at least. */
#define SAM_ROUTE_CONFIG_INITIALIZER                                          \
  {                                                                           \
    sizeof(samRouteConfig_t), SAM_ROUTE_CONFIG_MAGIC, SAM_VERSION_CODE, 0, 0, 0, 0, 0, NULL, 0, \
        samScoreSoftmax, samGroupReduceSum, 2, 0, 1.0f, 0.0f, NULL              \
  }

/* Fills every field for a preset (values in ARCHITECTURE §1). For sam,
 * numGroups = numRanks and topk = min(k, E/R) with k = 2 unless changed after. */
SAM_API samResult_t samRouteConfigPreset(samRoutePreset_t preset, int numExperts, int numRanks,
                                         samRouteConfig_t* config);
/* "switch", "gshard", "sam", "deepseek-v2", "deepseek-v3". */
SAM_API samResult_t samRoutePresetFromName(const char* name, samRoutePreset_t* preset);
SAM_API samResult_t samRouteConfigCheck(const samRouteConfig_t* config);

/* Where the arrays of a routing call live: all of them in one space. */
typedef enum { samMemHost = 0, samMemCuda = 1 } samMemSpace_t;

/* Outputs of the forward pass. Required: expertIdx, weights. Optional (NULL =
 * not computed): everything else. Capacity drops (capacityFactor > 0): a dropped
 * (token, rank) pair has its expertIdx entries set to -1 and weights to 0, and
 * dropped[t] counts the pairs of token t that were dropped. */
typedef struct {
  int32_t* expertIdx;    /* [T, k], descending selection score per token */
  float* weights;        /* [T, k] */
  int32_t* rankCounts;   /* [R]: tokens sent to each rank (once per rank) */
  int32_t* expertCounts; /* [E]: (token, expert) pairs per expert */
  int32_t* dropped;      /* [T] */
  /* [3], optional (NULL = none), same memory space as the outputs. When given
   * for samMemCuda with stats == NULL, the call does not synchronise: it
   * validates the arguments, enqueues the work on the stream and returns
   * samSuccess; the kernels then write status[0] = samSuccess or
   * samNumericError, status[1] = the token of the first non-finite logit
   * (-1 if none, or if it was the selection bias) and status[2] = its expert
   * (or bias entry; -1 if none). The other outputs are written (by the device,
   * in stream order) only when status[0] is samSuccess. With stats != NULL the
   * call synchronises and returns errors as without status, and also writes
   * status. On samMemHost status is written the same way (the call still
   * returns samNumericError). Argument errors leave status untouched. */
  int32_t* status;
} samRouteOutput_t;

/* Statistics and auxiliary losses (always in host memory). */
typedef struct {
  int64_t tokens;          /* T */
  int64_t pairsRouted;     /* (token, expert) pairs kept */
  int64_t tokenRankPairs;  /* (token, rank) pairs kept: vectors SAM sends */
  int64_t pairsDropped;    /* (token, rank) pairs dropped by capacity */
  int64_t capacity;        /* per-rank capacity, 0 when dropless */
  double expertBalanceLoss;
  double deviceBalanceLoss;
  double alignmentLoss;
} samRouteStats_t;

/* logits [T, E] row-major. stream: cudaStream_t for samMemCuda, else NULL.
 * NaN/Inf in the logits (or the selection bias) -> samNumericError naming the
 * first bad token and expert, and nothing written. On samMemCuda the call
 * synchronises the stream once (to learn whether the logits were finite and
 * to return the statistics); the outputs are complete when it returns. Unless
 * out->status is given and stats is NULL: then nothing synchronises and the
 * result arrives in status (see samRouteOutput_t).
 * Host and CUDA give identical expertIdx, counts and drops; weights agree
 * within 1e-6 relative (identical floats with SAM_ROUTE_EXACT=1, or with
 * stats or capacity). Without CUDA built in, samMemCuda gives samNotSupported.
 * CUDA graphs: a sync-free call (out->status given, stats NULL) can be
 * captured; each replay then uses memory the graph owns (allocation nodes)
 * and routes the logits the buffer holds at that replay. A synchronising
 * call on a capturing stream gives samNotSupported and enqueues nothing
 * (the capture stays valid). */
SAM_API samResult_t samRouteForward(const samRouteConfig_t* config, samMemSpace_t space,
                                    const void* logits, samDataType_t dtype, int64_t numTokens,
                                    samRouteOutput_t* out, samRouteStats_t* stats, void* stream);

/* Loss coefficients for the backward pass. */
typedef struct {
  float expertBalance;
  float deviceBalance;
  float alignment;
} samRouteLossCoef_t;

/* gradLogits [T, E] fp32 = d(sum_i gradWeights[t,i] w_i + coef . losses)/d logits,
 * for the routes in expertIdx (as returned by the forward, -1 = dropped),
 * held fixed. gradWeights and coef may be NULL (no such term). expertIdx must
 * be what the forward returned for these logits and this config, else
 * samInvalidArgument; nothing is written on any error. Synchronises on
 * samMemCuda, like the forward, so a capturing stream gives samNotSupported. */
SAM_API samResult_t samRouteBackward(const samRouteConfig_t* config, samMemSpace_t space,
                                     const void* logits, samDataType_t dtype, int64_t numTokens,
                                     const int32_t* expertIdx, const float* gradWeights,
                                     const samRouteLossCoef_t* coef, float* gradLogits,
                                     void* stream);

/* ================================================== dispatch and combine */
/* The plan of one MoE layer on one rank: which tokens go to which rank (each
 * token once per chosen rank), the exchanged counts, and on this rank the
 * expansion into (token, local expert) rows grouped by local expert. Combine
 * and both backward passes reuse it. See docs/DATAPATH.md. */
typedef struct samHandle* samHandle_t;

#define SAM_PLAN_CONFIG_MAGIC 0x53414d50u /* "SAMP" */

typedef struct {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int hidden;             /* H */
  samDataType_t dtype;    /* of x, expert rows, y */
  int64_t maxRecvRows;    /* capacity mode: fixed row budget of the expert
                             buffers (0 = dropless, two-phase). Plan creation
                             fails on every rank, naming the sizes, if a rank
                             would receive more rows; nothing is ever dropped
                             here (drop in routing with a capacity factor). */
} samPlanConfig_t;

/* hidden must be set by the caller; dtype fp32, dropless. */
#define SAM_PLAN_CONFIG_INITIALIZER                                          \
  { sizeof(samPlanConfig_t), SAM_PLAN_CONFIG_MAGIC, SAM_VERSION_CODE, 0, samFloat32, 0 }

/* Builds the plan from a routing result and exchanges counts with every rank
 * (collective: every rank calls it, T may be 0). expertIdx/weights [T, k] as
 * from samRouteForward (entries -1 = dropped), host memory. route must be the
 * config the routing used (numRanks = communicator size). A rank with bad
 * arguments fails with samInvalidArgument and its peers with samRemoteError;
 * hidden, dtype, topk, numExperts and maxRecvRows must agree on all ranks.
 * The first call on a communicator also sets up its transports. On the host
 * backend every `stream` argument of the data path is ignored (pass NULL). */
SAM_API samResult_t samPlanCreate(samComm_t comm, const samRouteConfig_t* route,
                                  const samPlanConfig_t* config, int64_t numTokens,
                                  const int32_t* expertIdx, const float* weights,
                                  void* stream, samHandle_t* handle);
SAM_API samResult_t samPlanDestroy(samHandle_t handle);

/* Sizes, known after samPlanCreate (dropless: the caller sizes its buffers). */
typedef struct {
  int64_t sendTokens;     /* (token, rank) vectors this rank sends */
  int64_t recvTokens;     /* vectors this rank receives */
  int64_t expertRows;     /* (token, local expert) rows on this rank */
  int numLocalExperts;
} samPlanSizes_t;
SAM_API samResult_t samPlanGetSizes(samHandle_t handle, samPlanSizes_t* sizes);
/* Rows per local expert [numLocalExperts] and their start offsets
 * [numLocalExperts + 1], for a grouped GEMM (host memory copies). */
SAM_API samResult_t samPlanGetExpertCounts(samHandle_t handle, int64_t* counts, int64_t* offsets);

/* The data-path calls are collective (every rank of the plan calls them in
 * the same order) and write every element of their outputs.
 * x [T, H] -> expertIn [expertRows, H] grouped by local expert (capacity
 * mode: [maxRecvRows, H], rows past expertRows zeroed). */
SAM_API samResult_t samDispatch(samHandle_t handle, const void* x, void* expertIn, void* stream);
/* expertOut [expertRows, H] -> y [T, H]: weighted sum of a token's experts on
 * their rank, one vector back per (token, rank), summed at the source. */
SAM_API samResult_t samCombine(samHandle_t handle, const void* expertOut, void* y, void* stream);
/* gradExpertIn [expertRows, H] -> gradX [T, H] (a combine with unit weights). */
SAM_API samResult_t samDispatchBackward(samHandle_t handle, const void* gradExpertIn, void* gradX,
                                        void* stream);
/* gradY [T, H] -> gradExpertOut [expertRows, H] = w * gradY, and
 * gradWeights [T, k] fp32 = <gradY, expertOut> computed on the expert's rank
 * (0 for dropped slots). expertOut is the combine's input. gradWeights may be
 * NULL; the weight gradients are still exchanged (a peer may want its own). */
SAM_API samResult_t samCombineBackward(samHandle_t handle, const void* gradY,
                                       const void* expertOut, void* gradExpertOut,
                                       float* gradWeights, void* stream);

/* ============================================================ counters */
typedef enum {
  samTransportSelf = 0, /* rank to itself */
  samTransportShm = 1,  /* POSIX shared memory, one node */
  samTransportUcx = 2,  /* UCX, between nodes */
  samTransportCudaIpc = 3,
  samTransportNccl = 4,
  samNumTransports = 5
} samTransport_t;

typedef struct {
  uint64_t bytesSent;
  uint64_t bytesReceived;
  uint64_t messagesSent;
  uint64_t messagesReceived;
} samTrafficCounter_t;

/* Traffic since the communicator was made (or last reset) between this rank
 * and peer over one transport. */
SAM_API samResult_t samCommGetTraffic(samComm_t comm, int peer, samTransport_t transport,
                                      samTrafficCounter_t* counter);
SAM_API samResult_t samCommResetTraffic(samComm_t comm);
/* The same, for the operations of one plan (one MoE layer) only. */
SAM_API samResult_t samPlanGetTraffic(samHandle_t handle, int peer, samTransport_t transport,
                                      samTrafficCounter_t* counter);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SAM_H_ */
