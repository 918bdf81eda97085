/* What a firmware provides to libvtpm_nostd_check.a: its heap and its abort.
 * Here a hosted C library stands in for the firmware's services. */
#include <stdlib.h>

#include "vtpm.h"

void *vtpm_fw_alloc(size_t size, size_t align) {
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    if (posix_memalign(&p, align, size ? size : 1) != 0) return NULL;
    return p;
}

void vtpm_fw_free(void *ptr, size_t size, size_t align) {
    (void)size;
    (void)align;
    free(ptr);
}

void vtpm_fw_abort(void) { abort(); }
