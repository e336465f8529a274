/* A stand-in for libcuda.so.1 (see fake_nvml.c): two devices whose CUDA
 * order is the reverse of their PCI order, as CUDA's fastest-first order can
 * be. */
#include <stdio.h>

typedef int CUresult;
typedef int CUdevice;

CUresult cuInit(unsigned int flags) { return flags == 0 ? 0 : 1; }
CUresult cuDeviceGetCount(int* n) {
  *n = 2;
  return 0;
}
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (ordinal < 0 || ordinal > 1) return 101; /* CUDA_ERROR_INVALID_DEVICE */
  *d = ordinal;
  return 0;
}
CUresult cuDeviceGetPCIBusId(char* buf, int len, CUdevice d) {
  if (d < 0 || d > 1) return 101;
  snprintf(buf, (size_t)len, "FFFE:%02X:00.0", 2 - d);
  return 0;
}
