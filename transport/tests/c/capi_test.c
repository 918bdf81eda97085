/* Drives vtpm through its C ABI the way firmware does: platform callbacks with the
 * state image in (simulated) flash, power-on, Startup, provisioning an NV index,
 * commands, a reboot from the stored image, a save/restore to a second TPM, and the
 * API's refusals. Exits 0 when every check passed; prints the first failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vtpm.h"

static int failures;
#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
            failures++;                                                    \
            return;                                                        \
        }                                                                  \
    } while (0)

/* ---- platform: entropy, clock, flash ---- */

struct flash {
    uint8_t *image;
    size_t len;
    int commits;
    int loads;
    bool cancel;
};

static int32_t entropy(void *ctx, uint8_t *buf, size_t len) {
    (void)ctx;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, len, f);
    fclose(f);
    return n == len ? 0 : -1;
}

static uint64_t monotonic_ms(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int32_t nv_load(void *ctx, uint8_t *buf, size_t *len) {
    struct flash *fl = ctx;
    fl->loads++;
    if (!fl->image) return VTPM_NV_EMPTY;
    if (*len < fl->len) {
        *len = fl->len;
        return VTPM_NV_SHORT;
    }
    memcpy(buf, fl->image, fl->len);
    *len = fl->len;
    return VTPM_NV_OK;
}

static int32_t nv_commit(void *ctx, const uint8_t *buf, size_t len) {
    struct flash *fl = ctx;
    uint8_t *copy = malloc(len);
    if (!copy) return -1;
    memcpy(copy, buf, len);
    free(fl->image);
    fl->image = copy;
    fl->len = len;
    fl->commits++;
    return 0;
}

static bool cancel_requested(void *ctx) { return ((struct flash *)ctx)->cancel; }

static vtpm_platform platform_for(struct flash *fl) {
    vtpm_platform p = {fl, entropy, monotonic_ms, nv_load, nv_commit, cancel_requested, NULL};
    return p;
}

/* ---- marshalling ---- */

struct buf {
    uint8_t b[VTPM_RESPONSE_MAX];
    size_t n;
};

static void u8(struct buf *c, uint8_t v) { c->b[c->n++] = v; }
static void u16(struct buf *c, uint16_t v) { u8(c, v >> 8); u8(c, v & 0xff); }
static void u32(struct buf *c, uint32_t v) { u16(c, v >> 16); u16(c, v & 0xffff); }
static void bytes(struct buf *c, const void *p, size_t n) { memcpy(c->b + c->n, p, n); c->n += n; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void header(struct buf *c, uint16_t tag, uint32_t cc) { c->n = 0; u16(c, tag); u32(c, 0); u32(c, cc); }
static void finish(struct buf *c) { uint32_t n = (uint32_t)c->n; c->b[2] = n >> 24; c->b[3] = n >> 16; c->b[4] = n >> 8; c->b[5] = n; }
/* One password session (TPM_RS_PW) carrying `pw`. */
static void pw_session(struct buf *c, const char *pw) {
    size_t len = strlen(pw);
    u32(c, (uint32_t)(9 + len));
    u32(c, 0x40000009); u16(c, 0); u8(c, 0); u16(c, (uint16_t)len); bytes(c, pw, len);
}

/* Executes `c` at `loc`; returns the TPM response code (0xFFFFFFFF on an API error). */
static uint32_t run(vtpm *t, uint8_t loc, struct buf *c, struct buf *r) {
    finish(c);
    r->n = sizeof r->b;
    if (vtpm_execute(t, loc, c->b, c->n, r->b, &r->n) != VTPM_OK || r->n < 10) return 0xFFFFFFFFu;
    return get32(r->b + 6);
}

#define PERSISTENT 0x81000003u
#define OWNER 0x40000001u

static uint32_t get_random(vtpm *t, uint16_t n, struct buf *r) {
    struct buf c;
    header(&c, 0x8001, 0x17B); u16(&c, n);
    return run(t, 0, &c, r);
}

/* HierarchyChangeAuth(owner) from `old` to `new_auth`. */
static uint32_t owner_change_auth(vtpm *t, const char *old, const char *new_auth) {
    struct buf c, r;
    header(&c, 0x8002, 0x129); u32(&c, OWNER); pw_session(&c, old);
    u16(&c, (uint16_t)strlen(new_auth)); bytes(&c, new_auth, strlen(new_auth));
    return run(t, 0, &c, &r);
}

/* CreatePrimary(owner): an ECDSA P-256 signing key; *handle gets its handle. */
static uint32_t create_primary(vtpm *t, const char *owner_auth, uint32_t *handle) {
    struct buf c, r;
    header(&c, 0x8002, 0x131); u32(&c, OWNER); pw_session(&c, owner_auth);
    u16(&c, 4); u16(&c, 0); u16(&c, 0);            /* TPM2B_SENSITIVE_CREATE: empty */
    u16(&c, 24);                                   /* TPM2B_PUBLIC */
    u16(&c, 0x0023); u16(&c, 0x000B);              /* ECC, SHA-256 */
    u32(&c, 0x00040072);                           /* fixedTPM fixedParent sensitiveDataOrigin userWithAuth sign */
    u16(&c, 0);                                    /* authPolicy */
    u16(&c, 0x0010);                               /* symmetric NULL */
    u16(&c, 0x0018); u16(&c, 0x000B);              /* ECDSA with SHA-256 */
    u16(&c, 0x0003); u16(&c, 0x0010);              /* NIST P-256, kdf NULL */
    u16(&c, 0); u16(&c, 0);                        /* unique */
    u16(&c, 0); u32(&c, 0);                        /* outsideInfo, creationPCR */
    uint32_t rc = run(t, 0, &c, &r);
    if (rc == 0) *handle = get32(r.b + 10);
    return rc;
}

static uint32_t evict_control(vtpm *t, const char *owner_auth, uint32_t object) {
    struct buf c, r;
    header(&c, 0x8002, 0x120); u32(&c, OWNER); u32(&c, object); pw_session(&c, owner_auth);
    u32(&c, PERSISTENT);
    return run(t, 0, &c, &r);
}

/* ReadPublic at `loc`; *type gets the key's algorithm. */
static uint32_t read_public(vtpm *t, uint8_t loc, uint32_t handle, uint16_t *type) {
    struct buf c, r;
    header(&c, 0x8001, 0x173); u32(&c, handle);
    uint32_t rc = run(t, loc, &c, &r);
    if (rc == 0) *type = get16(r.b + 12);
    return rc;
}

static void test_lifecycle(void) {
    struct flash fl = {0};
    vtpm_platform p = platform_for(&fl);
    vtpm *t = NULL;
    uint32_t rc;
    struct buf r;

    CHECK(vtpm_create(&p, &t) == VTPM_OK && t, "create");
    CHECK(fl.loads == 1 && fl.commits >= 1 && fl.image, "a fresh TPM is manufactured and committed (loads %d commits %d)", fl.loads, fl.commits);

    /* Powered off: TPM_RC_FAILURE. */
    CHECK(get_random(t, 8, &r) == 0x101, "powered-off TPM answers FAILURE");
    CHECK(vtpm_init(t, false) == VTPM_OK, "init");
    CHECK(get_random(t, 8, &r) == 0x100, "before Startup: TPM_RC_INITIALIZE");
    CHECK(vtpm_startup(t, 0, &rc) == VTPM_OK && rc == 0, "Startup(CLEAR) rc 0x%x", rc);
    CHECK(vtpm_startup(t, 0, &rc) == VTPM_OK && rc == 0x100, "second Startup rc 0x%x", rc);

    CHECK(get_random(t, 16, &r) == 0 && r.n == 10 + 2 + 16 && get16(r.b + 10) == 16, "GetRandom(16) len %zu", r.n);

    /* Provision: owner auth, a primary key persisted at 0x81000003 (the AK's place). */
    int before = fl.commits;
    CHECK((rc = owner_change_auth(t, "", "pw")) == 0, "HierarchyChangeAuth rc 0x%x", rc);
    CHECK(fl.commits > before, "the new owner auth was committed");
    uint32_t key = 0;
    CHECK((rc = create_primary(t, "pw", &key)) == 0 && (key >> 24) == 0x80, "CreatePrimary rc 0x%x handle 0x%x", rc, key);
    before = fl.commits;
    CHECK((rc = evict_control(t, "pw", key)) == 0, "EvictControl rc 0x%x", rc);
    CHECK(fl.commits > before, "the persistent key was committed");
    uint16_t type = 0;
    CHECK((rc = read_public(t, 0, PERSISTENT, &type)) == 0 && type == 0x0023, "ReadPublic rc 0x%x type 0x%x", rc, type);
    type = 0;
    CHECK((rc = read_public(t, 3, PERSISTENT, &type)) == 0 && type == 0x0023, "ReadPublic at locality 3 rc 0x%x", rc);

    /* Refusals of the API itself. */
    struct buf c;
    header(&c, 0x8001, 0x17B); u16(&c, 8); finish(&c);
    r.n = sizeof r.b;
    CHECK(vtpm_execute(t, 5, c.b, c.n, r.b, &r.n) == VTPM_E_INVALID_ARG, "locality 5 refused");
    r.n = 4;
    CHECK(vtpm_execute(t, 0, c.b, c.n, r.b, &r.n) == VTPM_E_BUFFER_TOO_SMALL && r.n == 20, "short response buffer: needs %zu", r.n);
    CHECK(vtpm_execute(NULL, 0, c.b, c.n, r.b, &r.n) == VTPM_E_INVALID_ARG, "NULL handle refused");
    CHECK(vtpm_create(NULL, &t) == VTPM_E_INVALID_ARG, "NULL platform refused");
    vtpm_platform incomplete = p;
    incomplete.nv_commit = NULL;
    vtpm *t2 = NULL;
    CHECK(vtpm_create(&incomplete, &t2) == VTPM_E_INVALID_ARG && !t2, "missing nv_commit refused");

    /* The established flag: set by a DRTM sequence, reset only from localities 3 and 4. */
    CHECK(!vtpm_established(t), "not established after Startup");
    CHECK(vtpm_hash_start(t) == VTPM_OK && vtpm_hash_data(t, (const uint8_t *)"mle", 3) == VTPM_OK && vtpm_hash_end(t) == VTPM_OK, "hash sequence");
    CHECK(vtpm_established(t), "established after _TPM_Hash_End");
    CHECK(vtpm_reset_established(t, 0) == VTPM_E_NOT_ALLOWED, "reset_established at locality 0 refused");
    CHECK(vtpm_reset_established(t, 3) == VTPM_OK && !vtpm_established(t), "reset_established at locality 3");

    /* Orderly shutdown and a reboot from flash. */
    CHECK(vtpm_shutdown(t, 0, &rc) == VTPM_OK && rc == 0, "Shutdown(CLEAR) rc 0x%x", rc);
    vtpm_power_off(t);
    vtpm_destroy(t);
    t = NULL;
    CHECK(vtpm_create(&p, &t) == VTPM_OK, "reopen from flash");
    CHECK(fl.loads == 3, "loaded the stored image: a size query, then the read (loads %d)", fl.loads);
    CHECK(vtpm_init(t, true) == VTPM_OK, "init after reboot");
    CHECK(vtpm_startup(t, 0, &rc) == VTPM_OK && rc == 0, "Startup after reboot rc 0x%x", rc);
    type = 0;
    CHECK((rc = read_public(t, 0, PERSISTENT, &type)) == 0 && type == 0x0023, "the persistent key survived the reboot, rc 0x%x", rc);
    CHECK((rc = owner_change_auth(t, "", "pw")) == 0x9A2, "the old owner auth is refused (BAD_AUTH), rc 0x%x", rc);
    CHECK((rc = owner_change_auth(t, "pw", "pw")) == 0, "the provisioned owner auth survived the reboot, rc 0x%x", rc);

    /* Save the running TPM, restore it into a second TPM, resume without Startup. */
    size_t need = 0;
    CHECK(vtpm_save_state(t, NULL, &need) == VTPM_E_BUFFER_TOO_SMALL && need > 0, "size query");
    uint8_t *image = malloc(need);
    size_t len = need;
    CHECK(image && vtpm_save_state(t, image, &len) == VTPM_OK && len == need, "save_state");

    struct flash fl2 = {0};
    vtpm_platform p2 = platform_for(&fl2);
    CHECK(vtpm_create(&p2, &t2) == VTPM_OK, "second TPM");
    uint8_t garbage[64] = {0};
    CHECK(vtpm_restore_state(t2, garbage, sizeof garbage) == VTPM_E_STATE, "garbage image refused");
    image[len / 2] ^= 1;
    CHECK(vtpm_restore_state(t2, image, len) == VTPM_E_STATE, "tampered image refused");
    image[len / 2] ^= 1;
    before = fl2.commits;
    CHECK(vtpm_restore_state(t2, image, len) == VTPM_OK, "restore_state");
    CHECK(fl2.commits == before + 1, "the restored TPM was committed to the second flash");
    CHECK(vtpm_init(t2, false) == VTPM_OK, "init resumes the volatile state");
    CHECK(get_random(t2, 8, &r) == 0, "no Startup needed after a resume");
    type = 0;
    CHECK((rc = read_public(t2, 0, PERSISTENT, &type)) == 0 && type == 0x0023, "the second TPM has the persistent key, rc 0x%x", rc);

    /* init(delete_volatile) discards it: Startup is needed again. */
    CHECK(vtpm_restore_state(t2, image, len) == VTPM_OK && vtpm_init(t2, true) == VTPM_OK, "restore, init(delete)");
    CHECK(get_random(t2, 8, &r) == 0x100, "after init(delete_volatile): TPM_RC_INITIALIZE");

    free(image);
    vtpm_destroy(t2);
    vtpm_destroy(t);
    vtpm_destroy(NULL);
    free(fl.image);
    free(fl2.image);
}

int main(void) {
    test_lifecycle();
    if (failures) return 1;
    printf("capi_test: all checks passed\n");
    return 0;
}
