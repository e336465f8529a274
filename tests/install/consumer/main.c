#include <stdio.h>
#include <sam.h>

int main(void) {
  int v = 0;
  if (samGetVersion(&v) != samSuccess || v != SAM_VERSION_CODE) {
    fprintf(stderr, "version mismatch: library %d, header %d\n", v, SAM_VERSION_CODE);
    return 1;
  }
  printf("libsam %d ok\n", v);
  return 0;
}
