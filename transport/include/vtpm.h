/* vtpm C ABI: a TPM 2.0 for firmware, paravisors and other C hosts.
 *
 * Hand-written from transport/src/capi.rs; transport/tests/capi.rs checks that
 * every declaration here matches the Rust one. Link libvtpm_transport.a (hosted,
 * with std) or conformance/nostd-check's libvtpm_nostd_check.a (no operating
 * system; the firmware then also defines vtpm_fw_alloc, vtpm_fw_free and
 * vtpm_fw_abort, see below).
 *
 * Functions return a VTPM_* result (0 = success, negative = error). A TPM response
 * code is not an error of this API: it is returned in the response or in *tpm_rc.
 * An in/out `len` holds a buffer's capacity on entry and the length used on return.
 * A handle is not thread-safe: call it from one thread at a time.
 */
#ifndef VTPM_H
#define VTPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VTPM_OK 0
/* A NULL pointer, a locality above 4 or another invalid argument. */
#define VTPM_E_INVALID_ARG (-1)
/* The output buffer is too small; *len holds the size needed. */
#define VTPM_E_BUFFER_TOO_SMALL (-2)
/* A platform callback (NV load or commit) failed. */
#define VTPM_E_PLATFORM (-3)
/* The state image is unusable (corrupt, tampered, from a newer vtpm). */
#define VTPM_E_STATE (-4)
/* Not allowed in this state (e.g. resetting the established flag below locality 3). */
#define VTPM_E_NOT_ALLOWED (-5)

/* nv_load results besides negative errors. */
#define VTPM_NV_OK 0
#define VTPM_NV_EMPTY 1
#define VTPM_NV_SHORT 2

/* The largest response a vtpm produces (TPM_PT_MAX_RESPONSE_SIZE). */
#define VTPM_RESPONSE_MAX 4096

/* The host services of a TPM, as callbacks sharing one context pointer. */
typedef struct vtpm_platform {
    /* Passed as the first argument of every callback. */
    void *ctx;
    /* Fills buf with len bytes of conditioned entropy; 0 on success. */
    int32_t (*entropy)(void *ctx, uint8_t *buf, size_t len);
    /* A monotonic millisecond count. */
    uint64_t (*monotonic_ms)(void *ctx);
    /* Loads the stored state image. On entry *len is the capacity of buf (buf may be
     * NULL when it is 0). Returns VTPM_NV_OK with *len = size, VTPM_NV_EMPTY when
     * nothing is stored, VTPM_NV_SHORT with *len = size needed when buf is too small,
     * or a negative error. */
    int32_t (*nv_load)(void *ctx, uint8_t *buf, size_t *len);
    /* Stores the state image durably (returns once durable); 0 on success. */
    int32_t (*nv_commit)(void *ctx, const uint8_t *buf, size_t len);
    /* Optional (may be NULL): true while the host asks to cancel the command. */
    bool (*cancel_requested)(void *ctx);
    /* Optional (may be NULL): true while physical presence is asserted. */
    bool (*physical_presence)(void *ctx);
} vtpm_platform;

/* The opaque TPM handle. */
typedef struct vtpm vtpm;

/* Opens the TPM stored through platform->nv_load, or manufactures a new one and
 * commits it. The TPM is powered off: call vtpm_init next. */
int32_t vtpm_create(const vtpm_platform *platform, vtpm **out);

/* Frees a handle (NULL is ignored). The state is already durable. */
void vtpm_destroy(vtpm *tpm);

/* Power on or reset: _TPM_Init. Volatile state saved by vtpm_save_state or restored
 * by vtpm_restore_state resumes unless delete_volatile. */
int32_t vtpm_init(vtpm *tpm, bool delete_volatile);

/* Power loss; commands answer TPM_RC_FAILURE until the next vtpm_init. */
void vtpm_power_off(vtpm *tpm);

/* TPM2_Startup(startup_type: 0 CLEAR, 1 STATE) at locality 0; *tpm_rc (may be NULL)
 * gets its response code. */
int32_t vtpm_startup(vtpm *tpm, uint16_t startup_type, uint32_t *tpm_rc);

/* TPM2_Shutdown(shutdown_type: 0 CLEAR, 1 STATE); *tpm_rc as for vtpm_startup. */
int32_t vtpm_shutdown(vtpm *tpm, uint16_t shutdown_type, uint32_t *tpm_rc);

/* Executes one command at locality 0..4. *rsp_len: capacity of rsp on entry
 * (VTPM_RESPONSE_MAX always suffices), response length on return. NV changes are
 * durable before this returns. */
int32_t vtpm_execute(vtpm *tpm, uint8_t locality, const uint8_t *cmd, size_t cmd_len,
                     uint8_t *rsp, size_t *rsp_len);

/* Stores the volatile state, then copies the whole state image to buf (query the
 * size with buf NULL and *len 0). */
int32_t vtpm_save_state(vtpm *tpm, uint8_t *buf, size_t *len);

/* Replaces the TPM with an image from vtpm_save_state and commits it; the TPM is
 * then powered off and vtpm_init(tpm, false) resumes the saved volatile state. An
 * unusable image is refused (VTPM_E_STATE) and the TPM is left unchanged. */
int32_t vtpm_restore_state(vtpm *tpm, const uint8_t *buf, size_t len);

/* _TPM_Hash_Start: a DRTM (or H-CRTM before Startup) measurement begins at locality 4. */
int32_t vtpm_hash_start(vtpm *tpm);

/* _TPM_Hash_Data: len bytes of the measured code. */
int32_t vtpm_hash_data(vtpm *tpm, const uint8_t *data, size_t len);

/* _TPM_Hash_End: the measurement is extended into PCR 17 (PCR 0 before Startup) and
 * the established flag is set. */
int32_t vtpm_hash_end(vtpm *tpm);

/* The PC Client TPM established flag (false for a NULL handle). */
bool vtpm_established(vtpm *tpm);

/* Clears the established flag; from localities 3 and 4 only (else VTPM_E_NOT_ALLOWED). */
int32_t vtpm_reset_established(vtpm *tpm, uint8_t locality);

/* Only for libvtpm_nostd_check.a (no operating system): the firmware provides these. */
void *vtpm_fw_alloc(size_t size, size_t align);
void vtpm_fw_free(void *ptr, size_t size, size_t align);
void vtpm_fw_abort(void);

#ifdef __cplusplus
}
#endif

#endif /* VTPM_H */
