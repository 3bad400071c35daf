/* A provider that loads and offers nothing: what a suite must never pass (tests/harness/
 * test_no_vacuous_pass.py). Built by the test as azihsm_provider.so in a directory of its own. */
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

static const OSSL_ALGORITHM *hollow_query(void *provctx, int operation_id, int *no_cache)
{
    *no_cache = 0;
    return NULL;
}

static int hollow_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, "hollow"))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL &&
        !OSSL_PARAM_set_utf8_ptr(p, "0"))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL &&
        !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_DISPATCH hollow_dispatch[] = {
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))hollow_query },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))hollow_get_params },
    { 0, NULL }
};

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    *out = hollow_dispatch;
    *provctx = (void *)handle;
    return 1;
}
