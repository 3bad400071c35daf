/*
 * The isolation provider: OpenSSL's default provider with whole operation classes withheld.
 *
 * Why: the `openssl` CLI activates the default provider implicitly (dgst fetches a digest
 * before it reads -provider), so "-propquery ?provider=X" never proves that X did anything:
 * whatever X lacks, default quietly serves. Activated from openssl.cnf (which turns the
 * implicit fallback off) in place of the default provider, this module serves everything the
 * default provider has *except* the classes named in AZIHSM_ISOLATION_WITHHOLD (e.g.
 * "signature,digest"). A command that still succeeds then got those operations from the
 * provider under test, because nothing else offered them.
 *
 * How: the real default provider is loaded into a private library context and its algorithm
 * tables are handed out under this provider, with the default provider's own context as
 * ours (the technique of OpenSSL's test/filterprov.c). Random bytes are the exception:
 * OpenSSL 3.5 will not seed a DRBG that lives in another library context, so a tiny DRBG
 * here returns bytes drawn from the private context instead.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/evp.h>

#define WITHHOLD_ENV  "AZIHSM_ISOLATION_WITHHOLD"
#define MAX_OPERATION 64

static OSSL_LIB_CTX *private_libctx;
static OSSL_PROVIDER *real_default;
static int withheld[MAX_OPERATION];

/* operation class names as the harness spells them (OSSL_OP_SKEYMGMT is 24 from 3.5 on) */
static const struct {
    const char *name;
    int id;
} operation_classes[] = { { "digest", OSSL_OP_DIGEST },
                          { "cipher", OSSL_OP_CIPHER },
                          { "mac", OSSL_OP_MAC },
                          { "kdf", OSSL_OP_KDF },
                          { "rand", OSSL_OP_RAND },
                          { "keymgmt", OSSL_OP_KEYMGMT },
                          { "keyexch", OSSL_OP_KEYEXCH },
                          { "signature", OSSL_OP_SIGNATURE },
                          { "asym-cipher", OSSL_OP_ASYM_CIPHER },
                          { "kem", OSSL_OP_KEM },
                          { "encoder", OSSL_OP_ENCODER },
                          { "decoder", OSSL_OP_DECODER },
                          { "store", OSSL_OP_STORE },
                          { "skeymgmt", 24 },
                          { NULL, 0 } };

/* ---- the DRBG: bytes from the private context's own, properly seeded DRBG ---- */

static void *drbg_new(void *provctx, void *parent, const OSSL_DISPATCH *parent_dispatch)
{
    static int instance;
    return &instance;
}
static void drbg_free(void *ctx) {}
static int drbg_instantiate(void *ctx, unsigned int strength, int prediction_resistance,
                            const unsigned char *pstr, size_t pstr_len, const OSSL_PARAM params[])
{
    return 1;
}
static int drbg_uninstantiate(void *ctx) { return 1; }
static int drbg_generate(void *ctx, unsigned char *out, size_t outlen, unsigned int strength,
                         int prediction_resistance, const unsigned char *adin, size_t adinlen)
{
    return RAND_bytes_ex(private_libctx, out, outlen, strength) > 0;
}
static int drbg_reseed(void *ctx, int prediction_resistance, const unsigned char *entropy,
                       size_t entropy_len, const unsigned char *adin, size_t adin_len)
{
    return 1;
}
static int drbg_enable_locking(void *ctx) { return 1; }
static int drbg_lock(void *ctx) { return 1; }
static void drbg_unlock(void *ctx) {}
static int drbg_get_ctx_params(void *ctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE)) != NULL &&
        !OSSL_PARAM_set_int(p, EVP_RAND_STATE_READY))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH)) != NULL &&
        !OSSL_PARAM_set_uint(p, 256))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST)) != NULL &&
        !OSSL_PARAM_set_size_t(p, 1 << 16))
        return 0;
    return 1;
}
static const OSSL_PARAM *drbg_gettable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM known[] = { OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
                                        OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
                                        OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
                                        OSSL_PARAM_END };
    return known;
}
static const OSSL_DISPATCH drbg_functions[] = {
    { OSSL_FUNC_RAND_NEWCTX, (void (*)(void))drbg_new },
    { OSSL_FUNC_RAND_FREECTX, (void (*)(void))drbg_free },
    { OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))drbg_instantiate },
    { OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))drbg_uninstantiate },
    { OSSL_FUNC_RAND_GENERATE, (void (*)(void))drbg_generate },
    { OSSL_FUNC_RAND_RESEED, (void (*)(void))drbg_reseed },
    { OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))drbg_enable_locking },
    { OSSL_FUNC_RAND_LOCK, (void (*)(void))drbg_lock },
    { OSSL_FUNC_RAND_UNLOCK, (void (*)(void))drbg_unlock },
    { OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))drbg_get_ctx_params },
    { OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, (void (*)(void))drbg_gettable_ctx_params },
    { 0, NULL }
};
static const OSSL_ALGORITHM drbg_algorithms[] = {
    { "CTR-DRBG", "provider=isolation", drbg_functions, "DRBG of the isolation provider" },
    { NULL, NULL, NULL, NULL }
};

/* ---- the provider ---- */

static const OSSL_ALGORITHM *isolation_query(void *provctx, int operation_id, int *no_cache)
{
    *no_cache = 0;
    if (operation_id >= 0 && operation_id < MAX_OPERATION && withheld[operation_id])
        return NULL;
    if (operation_id == OSSL_OP_RAND)
        return drbg_algorithms;
    return OSSL_PROVIDER_query_operation(real_default, operation_id, no_cache);
}

static void isolation_unquery(void *provctx, int operation_id, const OSSL_ALGORITHM *algorithms)
{
    if (algorithms != drbg_algorithms)
        OSSL_PROVIDER_unquery_operation(real_default, operation_id, algorithms);
}

/* TLS asks providers for their groups and signature algorithms */
static int isolation_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
                                  void *arg)
{
    return OSSL_PROVIDER_get_capabilities(real_default, capability, cb, arg);
}

static int isolation_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, "azihsm-conformance isolation provider"))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, "1"))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, getenv(WITHHOLD_ENV) ? getenv(WITHHOLD_ENV) : ""))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL &&
        !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_PARAM *isolation_gettable_params(void *provctx)
{
    static const OSSL_PARAM known[] = { OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
                                        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
                                        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
                                        OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
                                        OSSL_PARAM_END };
    return known;
}

static void isolation_teardown(void *provctx)
{
    OSSL_PROVIDER_unload(real_default);
    OSSL_LIB_CTX_free(private_libctx);
    real_default = NULL;
    private_libctx = NULL;
}

static const OSSL_DISPATCH isolation_dispatch[] = {
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))isolation_query },
    { OSSL_FUNC_PROVIDER_UNQUERY_OPERATION, (void (*)(void))isolation_unquery },
    { OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))isolation_capabilities },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))isolation_get_params },
    { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))isolation_gettable_params },
    { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))isolation_teardown },
    { 0, NULL }
};

static int read_withheld(void)
{
    const char *spec = getenv(WITHHOLD_ENV);
    char *copy, *save = NULL, *name;
    int ok = 1;

    memset(withheld, 0, sizeof(withheld));
    if (spec == NULL || *spec == '\0')
        return 1;
    if ((copy = strdup(spec)) == NULL)
        return 0;
    for (name = strtok_r(copy, ", ", &save); name != NULL; name = strtok_r(NULL, ", ", &save)) {
        int i, known = 0;

        for (i = 0; operation_classes[i].name != NULL; i++)
            if (strcmp(name, operation_classes[i].name) == 0) {
                withheld[operation_classes[i].id] = 1;
                known = 1;
            }
        if (!known)
            ok = 0; /* a typo must not silently withhold nothing */
    }
    free(copy);
    return ok;
}

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    if (real_default != NULL || !read_withheld())
        return 0;
    private_libctx = OSSL_LIB_CTX_new();
    if (private_libctx == NULL)
        return 0;
    real_default = OSSL_PROVIDER_load(private_libctx, "default");
    if (real_default == NULL) {
        OSSL_LIB_CTX_free(private_libctx);
        private_libctx = NULL;
        return 0;
    }
    *provctx = OSSL_PROVIDER_get0_provider_ctx(real_default);
    *out = isolation_dispatch;
    return 1;
}
