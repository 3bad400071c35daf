/*
 * azihsm_provider.so: the thin C layer of the reference provider.
 *
 * What lives here: OSSL_provider_init, the dispatch and algorithm tables,
 * constant OSSL_PARAM descriptor tables, the error/BIO/core-param helpers the
 * Python side calls, entry guards, interpreter start-up and fork handlers.
 * Every operation body is a Python function declared in externs.h.
 *
 * The module deliberately links no libcrypto: it talks to whichever libcrypto
 * loaded it only through the core dispatch table, so the same .so works under
 * the system 3.0 and under 3.5/3.6/4.0 builds in other prefixes.
 *
 * build.py inserts the BRIDGE_* configuration macros and the static forward
 * declarations of the externs.h functions at the @BRIDGE_PROLOGUE@ marker.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h> /* OSSL_STORE_INFO_* constants only */

/* build.py inserts the BRIDGE_* macros and the externs.h declarations here. */
/* @BRIDGE_PROLOGUE@ */

/* Reason codes of failures that happen before Python can report them. */
#define BRIDGE_R_PYTHON_START 250
#define BRIDGE_R_REENTRY      251

/* One per provider instance (per library context that loads the module). */
typedef struct bridge_prov {
    const OSSL_CORE_HANDLE *handle;
    OSSL_FUNC_core_get_params_fn *core_get_params;
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
    OSSL_FUNC_BIO_write_ex_fn *bio_write_ex;
    int instance;    /* Python-side instance id */
    int opaque_keys; /* the core is OpenSSL 3.5 or later: SKEYMGMT and skey ciphers */
} bridge_prov;

#define PROV(provctx) ((bridge_prov *)(provctx))

/* ------------------------------------------------------------------ */
/* Helpers called from Python (declared in build.py's cdef).           */

/* Raise a provider error: a new queue entry, where it came from, the formatted data. */
static void raise_error(bridge_prov *p, int reason, const char *func, const char *fmt, ...)
{
    va_list ap;

    p->new_error(p->handle);
    if (p->set_error_debug != NULL)
        p->set_error_debug(p->handle, "azihsm-bridge", 0, func);
    va_start(ap, fmt);
    p->vset_error(p->handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}

void bridge_put_error(void *cprov, int reason, const char *func, const char *message)
{
    bridge_prov *p = cprov;

    if (p == NULL || p->new_error == NULL || p->vset_error == NULL)
        return;
    raise_error(p, reason, func, "%s", message);
}

int bridge_bio_write(void *cprov, void *cbio, const unsigned char *data, size_t len)
{
    bridge_prov *p = cprov;
    size_t written = 0;

    if (p == NULL || p->bio_write_ex == NULL)
        return 0;
    while (len > 0) {
        if (!p->bio_write_ex(cbio, data, len, &written) || written == 0)
            return 0;
        data += written;
        len -= written;
    }
    return 1;
}

/* A provider-section value from openssl.cnf (or NULL); owned by the core. */
const char *bridge_core_param(void *cprov, const char *name)
{
    bridge_prov *p = cprov;
    const char *value = NULL;
    OSSL_PARAM params[2] = { { name, OSSL_PARAM_UTF8_PTR, &value, 0, OSSL_PARAM_UNMODIFIED },
                             OSSL_PARAM_END };

    if (p == NULL || p->core_get_params == NULL)
        return NULL;
    if (!p->core_get_params(p->handle, params))
        return NULL;
    return value;
}

/* Whether the core's OpenSSL version is at least MAJOR.MINOR ("openssl-version"). */
static int core_at_least(bridge_prov *p, int major, int minor)
{
    const char *version = bridge_core_param(p, OSSL_PROV_PARAM_CORE_VERSION);
    int have_major = 0, have_minor = 0;

    if (version == NULL || sscanf(version, "%d.%d", &have_major, &have_minor) != 2)
        return 0;
    return have_major > major || (have_major == major && have_minor >= minor);
}

/* Reason strings, filled once from Python's reason enums. */
#define MAX_REASONS 256
static OSSL_ITEM reason_strings[MAX_REASONS + 1];
static int reason_count;

int bridge_add_reason(int code, const char *text)
{
    int i;

    for (i = 0; i < reason_count; i++)
        if (reason_strings[i].id == (unsigned int)code)
            return 1;
    if (reason_count >= MAX_REASONS)
        return 0;
    reason_strings[reason_count].id = (unsigned int)code;
    reason_strings[reason_count].ptr = (void *)text; /* kept alive by Python */
    reason_count++;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Entry guards: never call into a finalised interpreter (a Python host
 * finalises before OPENSSL_cleanup runs), and bound re-entry through
 * callbacks (store -> keymgmt load -> ...).                           */

/* The mode: embed.c (in-process) or client.c (device server). */
/* @BRIDGE_MODE@ */

#define MAX_DEPTH 12
static __thread int call_depth;

static int bridge_enter(void)
{
    if (!bridge_ready() || call_depth >= MAX_DEPTH)
        return 0;
    call_depth++;
    return 1;
}

#define CALL(fail, expr)          \
    do {                          \
        __typeof__(expr) result_; \
        if (!bridge_enter())      \
            return fail;          \
        result_ = (expr);         \
        call_depth--;             \
        return result_;           \
    } while (0)

#define CALL_VOID(expr)      \
    do {                     \
        if (!bridge_enter()) \
            return;          \
        (expr);              \
        call_depth--;        \
    } while (0)

/* ------------------------------------------------------------------ */
/* A libcrypto other than the host's (pyca/cryptography's statically linked
 * OpenSSL honouring OPENSSL_CONF) may load this module again from inside our
 * own Python code. Such a nested instance must offer nothing, or operations
 * would recurse. It is recognised by where its core functions live: inside a
 * Python extension module (an object exporting PyInit_<stem>). Any real host
 * libcrypto, shared or static, whatever its prefix or version, passes.   */

static int core_is_nested(const void *core_fn)
{
    Dl_info info;
    const char *base;
    char symbol[256];
    size_t stem;
    void *handle;
    int nested = 0;

    if (core_fn == NULL || !dladdr(core_fn, &info) || info.dli_fname == NULL)
        return 0;
    base = strrchr(info.dli_fname, '/');
    base = base != NULL ? base + 1 : info.dli_fname;
    stem = strcspn(base, ".");
    if (stem == 0 || stem > sizeof(symbol) - 8)
        return 0;
    snprintf(symbol, sizeof(symbol), "PyInit_%.*s", (int)stem, base);
    handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (handle != NULL) {
        nested = dlsym(handle, symbol) != NULL;
        dlclose(handle);
    }
    return nested;
}

/* ------------------------------------------------------------------ */
/* Generic wrappers shared by every operation: objects are Python handles. */

static void obj_free(void *obj) { CALL_VOID(py_obj_free(obj)); }
static void *obj_dup(void *obj) { CALL(NULL, py_obj_dup(obj)); }
static int obj_update(void *obj, const unsigned char *data, size_t len)
{
    CALL(0, py_obj_update(obj, data, len));
}
static int obj_get_params(void *obj, OSSL_PARAM params[])
{
    CALL(0, py_obj_get_params(obj, params));
}
static int obj_set_params(void *obj, const OSSL_PARAM params[])
{
    CALL(0, py_obj_set_params(obj, params));
}

#define FN(id, fn) { id, (void (*)(void))(fn) }

/* ------------------------------------------------------------------ */
/* DIGEST                                                              */

static const OSSL_PARAM digest_gettable[] = { OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_BLOCK_SIZE, NULL),
                                              OSSL_PARAM_size_t(OSSL_DIGEST_PARAM_SIZE, NULL),
                                              OSSL_PARAM_int(OSSL_DIGEST_PARAM_XOF, NULL),
                                              OSSL_PARAM_int(OSSL_DIGEST_PARAM_ALGID_ABSENT, NULL),
                                              OSSL_PARAM_END };
static const OSSL_PARAM *digest_gettable_params(void *provctx) { return digest_gettable; }
static int digest_init(void *ctx, const OSSL_PARAM params[]) { CALL(0, py_digest_init(ctx)); }
static int digest_final(void *ctx, unsigned char *out, size_t *outl, size_t outsz)
{
    CALL(0, py_digest_final(ctx, out, outl, outsz));
}

#define DIGEST(id, NAME)                                                                      \
    static void *id##_newctx(void *provctx)                                                   \
    {                                                                                         \
        CALL(NULL, py_digest_newctx(PROV(provctx)->instance, NAME));                          \
    }                                                                                         \
    static int id##_digest(void *provctx,                                                     \
                           const unsigned char *in,                                           \
                           size_t inl,                                                        \
                           unsigned char *out,                                                \
                           size_t *outl,                                                      \
                           size_t outsz)                                                      \
    {                                                                                         \
        CALL(0, py_digest_oneshot(PROV(provctx)->instance, NAME, in, inl, out, outl, outsz)); \
    }                                                                                         \
    static int id##_get_params(OSSL_PARAM params[])                                           \
    {                                                                                         \
        CALL(0, py_digest_get_params(NAME, params));                                          \
    }                                                                                         \
    static const OSSL_DISPATCH id##_functions[] = {                                           \
        FN(OSSL_FUNC_DIGEST_NEWCTX, id##_newctx),                                             \
        FN(OSSL_FUNC_DIGEST_INIT, digest_init),                                               \
        FN(OSSL_FUNC_DIGEST_UPDATE, obj_update),                                              \
        FN(OSSL_FUNC_DIGEST_FINAL, digest_final),                                             \
        FN(OSSL_FUNC_DIGEST_DIGEST, id##_digest),                                             \
        FN(OSSL_FUNC_DIGEST_FREECTX, obj_free),                                               \
        FN(OSSL_FUNC_DIGEST_DUPCTX, obj_dup),                                                 \
        FN(OSSL_FUNC_DIGEST_GET_PARAMS, id##_get_params),                                     \
        FN(OSSL_FUNC_DIGEST_GETTABLE_PARAMS, digest_gettable_params),                         \
        { 0, NULL }                                                                           \
    };

DIGEST(sha1, "sha1")
DIGEST(sha256, "sha256")
DIGEST(sha384, "sha384")
DIGEST(sha512, "sha512")

/* ------------------------------------------------------------------ */
/* KEYMGMT                                                             */

#define AZIHSM_GEN_PARAMS                                     \
    OSSL_PARAM_utf8_string("azihsm.key_usage", NULL, 0),      \
        OSSL_PARAM_utf8_string("azihsm.session", NULL, 0),    \
        OSSL_PARAM_utf8_string("azihsm.masked_key", NULL, 0), \
        OSSL_PARAM_utf8_string("azihsm.input_key", NULL, 0),  \
        OSSL_PARAM_utf8_string("azihsm.wrapped_key", NULL, 0)

static const OSSL_PARAM ec_gen_settable_table[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0), AZIHSM_GEN_PARAMS, OSSL_PARAM_END
};
static const OSSL_PARAM rsa_gen_settable_table[] = {
    OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),
    AZIHSM_GEN_PARAMS,
    OSSL_PARAM_utf8_string("azihsm.key_kind", NULL, 0),
    OSSL_PARAM_END
};

#define COMMON_KEY_GETTABLE                                  \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),              \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL), \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),      \
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0)

static const OSSL_PARAM ec_key_gettable_table[] = {
    COMMON_KEY_GETTABLE,
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM rsa_key_gettable_table[] = { COMMON_KEY_GETTABLE,
                                                     OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
                                                     OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
                                                     OSSL_PARAM_END };

/* Public halves only: import (peer keys) and export carry no private part. */
static const OSSL_PARAM ec_public_types_table[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM rsa_public_types_table[] = { OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
                                                     OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
                                                     OSSL_PARAM_END };

static void *keygen(void *genctx, OSSL_CALLBACK *cb, void *cbarg) { CALL(NULL, py_keygen(genctx)); }
/* EVP_PKEY_dup (used by the store for expected public keys) needs this. */
static void *key_dup(const void *key, int selection) { return obj_dup((void *)key); }
static int key_has(const void *key, int selection) { CALL(0, py_key_has(key, selection)); }
static int key_match(const void *a, const void *b, int selection)
{
    CALL(0, py_key_match(a, b, selection));
}
static int key_import(void *key, int selection, const OSSL_PARAM params[])
{
    CALL(0, py_key_import(key, selection, params));
}
static int key_export(void *key, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    CALL(0, py_key_export(key, selection, cb, cbarg));
}

static const char *ec_operation_name(int operation_id)
{
    switch (operation_id) {
    case OSSL_OP_SIGNATURE:
        return "ECDSA";
    case OSSL_OP_KEYEXCH:
        return "ECDH";
    default:
        return "EC";
    }
}
static const char *rsa_operation_name(int operation_id) { return "RSA"; }
static const char *rsa_pss_operation_name(int operation_id) { return "RSA-PSS"; }

#define KEYMGMT(id, ALG, family)                                                        \
    static void *id##_key_new(void *provctx)                                            \
    {                                                                                   \
        CALL(NULL, py_key_new(PROV(provctx)->instance, ALG));                           \
    }                                                                                   \
    static void *id##_gen_init(void *provctx, int selection, const OSSL_PARAM params[]) \
    {                                                                                   \
        CALL(NULL, py_keygen_init(PROV(provctx)->instance, ALG, selection, params));    \
    }                                                                                   \
    static const OSSL_PARAM *id##_gen_settable(void *genctx, void *provctx)             \
    {                                                                                   \
        return family##_gen_settable_table;                                             \
    }                                                                                   \
    static void *id##_key_load(const void *reference, size_t size)                      \
    {                                                                                   \
        CALL(NULL, py_key_load(ALG, reference, size));                                  \
    }                                                                                   \
    static const OSSL_PARAM *id##_key_gettable(void *provctx)                           \
    {                                                                                   \
        return family##_key_gettable_table;                                             \
    }                                                                                   \
    static const OSSL_PARAM *id##_public_types(int selection)                           \
    {                                                                                   \
        return family##_public_types_table;                                             \
    }                                                                                   \
    static const OSSL_DISPATCH id##_keymgmt_functions[] = {                             \
        FN(OSSL_FUNC_KEYMGMT_NEW, id##_key_new),                                        \
        FN(OSSL_FUNC_KEYMGMT_FREE, obj_free),                                           \
        FN(OSSL_FUNC_KEYMGMT_GEN_INIT, id##_gen_init),                                  \
        FN(OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, obj_set_params),                           \
        FN(OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, id##_gen_settable),                   \
        FN(OSSL_FUNC_KEYMGMT_GEN, keygen),                                              \
        FN(OSSL_FUNC_KEYMGMT_GEN_CLEANUP, obj_free),                                    \
        FN(OSSL_FUNC_KEYMGMT_LOAD, id##_key_load),                                      \
        FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, obj_get_params),                               \
        FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, id##_key_gettable),                       \
        FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, id##_operation_name),                \
        FN(OSSL_FUNC_KEYMGMT_HAS, key_has),                                             \
        FN(OSSL_FUNC_KEYMGMT_DUP, key_dup),                                             \
        FN(OSSL_FUNC_KEYMGMT_MATCH, key_match),                                         \
        FN(OSSL_FUNC_KEYMGMT_IMPORT, key_import),                                       \
        FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, id##_public_types),                          \
        FN(OSSL_FUNC_KEYMGMT_EXPORT, key_export),                                       \
        FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, id##_public_types),                          \
        { 0, NULL }                                                                     \
    };

KEYMGMT(ec, "EC", ec)
KEYMGMT(rsa, "RSA", rsa)
KEYMGMT(rsa_pss, "RSA-PSS", rsa)

/* ------------------------------------------------------------------ */
/* STORE                                                               */

static const OSSL_PARAM store_settable[] = { OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
                                             OSSL_PARAM_END };
static void *store_open(void *provctx, const char *uri)
{
    CALL(NULL, py_store_open(PROV(provctx)->instance, uri));
}
static const OSSL_PARAM *store_settable_params(void *provctx) { return store_settable; }
static int store_load(void *ctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    CALL(0, py_store_load(ctx, object_cb, object_cbarg));
}
static int store_eof(void *ctx) { CALL(1, py_store_eof(ctx)); }
static int store_close(void *ctx)
{
    obj_free(ctx);
    return 1;
}

static const OSSL_DISPATCH store_functions[] = { FN(OSSL_FUNC_STORE_OPEN, store_open),
                                                 FN(OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
                                                    store_settable_params),
                                                 FN(OSSL_FUNC_STORE_SET_CTX_PARAMS, obj_set_params),
                                                 FN(OSSL_FUNC_STORE_LOAD, store_load),
                                                 FN(OSSL_FUNC_STORE_EOF, store_eof),
                                                 FN(OSSL_FUNC_STORE_CLOSE, store_close),
                                                 { 0, NULL } };

/* ------------------------------------------------------------------ */
/* SIGNATURE                                                           */

static const OSSL_PARAM ecdsa_ctx_settable_table[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0), OSSL_PARAM_END
};
static const OSSL_PARAM ecdsa_ctx_gettable_table[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_END
};
/* Strings, so `-sigopt rsa_padding_mode:pss` / `rsa_pss_saltlen:max` arrive
 * as typed; integers are accepted too (see signature.py). */
static const OSSL_PARAM rsa_ctx_settable_table[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM rsa_ctx_gettable_table[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END
};

static int sig_sign_init(void *ctx, void *key, const OSSL_PARAM params[])
{
    CALL(0, py_sig_init(ctx, "sign", NULL, key, params));
}
static int sig_verify_init(void *ctx, void *key, const OSSL_PARAM params[])
{
    CALL(0, py_sig_init(ctx, "verify", NULL, key, params));
}
static int sig_digest_sign_init(void *ctx, const char *mdname, void *key, const OSSL_PARAM params[])
{
    CALL(0, py_sig_init(ctx, "digest-sign", mdname, key, params));
}
static int sig_digest_verify_init(void *ctx, const char *mdname, void *key,
                                  const OSSL_PARAM params[])
{
    CALL(0, py_sig_init(ctx, "digest-verify", mdname, key, params));
}
static int sig_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                    const unsigned char *tbs, size_t tbslen)
{
    CALL(0, py_sig_sign(ctx, sig, siglen, sigsize, tbs, tbslen));
}
static int sig_verify(void *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                      size_t tbslen)
{
    CALL(0, py_sig_verify(ctx, sig, siglen, tbs, tbslen));
}
static int sig_sign_final(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    CALL(0, py_sig_sign_final(ctx, sig, siglen, sigsize));
}
static int sig_verify_final(void *ctx, const unsigned char *sig, size_t siglen)
{
    CALL(0, py_sig_verify_final(ctx, sig, siglen));
}

#define SIGNATURE(id, ALG, family)                                          \
    static void *id##_sig_newctx(void *provctx, const char *propq)          \
    {                                                                       \
        CALL(NULL, py_sig_newctx(PROV(provctx)->instance, ALG));            \
    }                                                                       \
    static const OSSL_PARAM *id##_sig_settable(void *ctx, void *provctx)    \
    {                                                                       \
        return family##_ctx_settable_table;                                 \
    }                                                                       \
    static const OSSL_PARAM *id##_sig_gettable(void *ctx, void *provctx)    \
    {                                                                       \
        return family##_ctx_gettable_table;                                 \
    }                                                                       \
    static const OSSL_DISPATCH id##_signature_functions[] = {               \
        FN(OSSL_FUNC_SIGNATURE_NEWCTX, id##_sig_newctx),                    \
        FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, sig_sign_init),                   \
        FN(OSSL_FUNC_SIGNATURE_SIGN, sig_sign),                             \
        FN(OSSL_FUNC_SIGNATURE_VERIFY_INIT, sig_verify_init),               \
        FN(OSSL_FUNC_SIGNATURE_VERIFY, sig_verify),                         \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, sig_digest_sign_init),     \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, obj_update),             \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, sig_sign_final),          \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, sig_digest_verify_init), \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, obj_update),           \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, sig_verify_final),      \
        FN(OSSL_FUNC_SIGNATURE_FREECTX, obj_free),                          \
        FN(OSSL_FUNC_SIGNATURE_DUPCTX, obj_dup),                            \
        FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, obj_get_params),             \
        FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, id##_sig_gettable),     \
        FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, obj_set_params),             \
        FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, id##_sig_settable),     \
        { 0, NULL }                                                         \
    };

SIGNATURE(ecdsa, "ECDSA", ecdsa)
SIGNATURE(rsa, "RSA", rsa)
SIGNATURE(rsa_pss, "RSA-PSS", rsa)

/* ------------------------------------------------------------------ */
/* ENCODER: the context remembers whether a cipher was asked for (pkey   */
/* -aes256): the private half cannot be written, encrypted or not, and   */
/* silently writing the public key instead would hide that.              */

typedef struct {
    bridge_prov *prov;
    int encrypt;
} encoder_ctx;

static void *encoder_newctx(void *provctx)
{
    encoder_ctx *ctx = calloc(1, sizeof(*ctx));

    if (ctx != NULL)
        ctx->prov = PROV(provctx);
    return ctx;
}
static void encoder_freectx(void *ctx) { free(ctx); }

static const OSSL_PARAM encoder_settable_table[] = {
    OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_CIPHER, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM *encoder_settable(void *provctx) { return encoder_settable_table; }
static int encoder_set_params(void *vctx, const OSSL_PARAM params[])
{
    /* By hand, not OSSL_PARAM_locate_const: the module uses no libcrypto symbol (a host
     * that loads libcrypto RTLD_LOCAL, such as Python's ctypes, would not resolve it). */
    encoder_ctx *ctx = vctx;

    for (; params != NULL && params->key != NULL; params++) {
        if (strcmp(params->key, OSSL_ENCODER_PARAM_CIPHER) != 0)
            continue;
        /* a NULL or empty name switches encryption off again */
        ctx->encrypt = params->data_type == OSSL_PARAM_UTF8_STRING && params->data != NULL &&
                       params->data_size > 0 && ((const char *)params->data)[0] != '\0';
    }
    return 1;
}

#define ENCODER(id, FORM, SELECTION)                                                          \
    static int id##_does_selection(void *provctx, int selection)                              \
    {                                                                                         \
        return (selection & (SELECTION)) != 0;                                                \
    }                                                                                         \
    static int id##_encode(void *vctx,                                                        \
                           OSSL_CORE_BIO *out,                                                \
                           const void *obj_raw,                                               \
                           const OSSL_PARAM obj_abstract[],                                   \
                           int selection,                                                     \
                           OSSL_PASSPHRASE_CALLBACK *cb,                                      \
                           void *cbarg)                                                       \
    {                                                                                         \
        encoder_ctx *ctx = vctx;                                                              \
        CALL(0, py_encode(ctx->prov->instance, FORM, out, obj_raw, selection, ctx->encrypt)); \
    }                                                                                         \
    static const OSSL_DISPATCH id##_encoder_functions[] = {                                   \
        FN(OSSL_FUNC_ENCODER_NEWCTX, encoder_newctx),                                         \
        FN(OSSL_FUNC_ENCODER_FREECTX, encoder_freectx),                                       \
        FN(OSSL_FUNC_ENCODER_SET_CTX_PARAMS, encoder_set_params),                             \
        FN(OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS, encoder_settable),                          \
        FN(OSSL_FUNC_ENCODER_DOES_SELECTION, id##_does_selection),                            \
        FN(OSSL_FUNC_ENCODER_ENCODE, id##_encode),                                            \
        { 0, NULL }                                                                           \
    };

ENCODER(text, "text", OSSL_KEYMGMT_SELECT_ALL)
ENCODER(der_spki, "der-spki", OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
ENCODER(pem_spki, "pem-spki", OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
ENCODER(der_pki, "der-pki", OSSL_KEYMGMT_SELECT_PRIVATE_KEY)
ENCODER(pem_pki, "pem-pki", OSSL_KEYMGMT_SELECT_PRIVATE_KEY)

/* ------------------------------------------------------------------ */
/* ASYM_CIPHER: RSA OAEP / PKCS#1 v1.5 (asym_cipher.py). Strings, so
 * `-pkeyopt rsa_padding_mode:oaep` arrives as typed; integers work too. */

static const OSSL_PARAM rsa_cipher_params_table[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM *rsa_cipher_params(void *ctx, void *provctx)
{
    return rsa_cipher_params_table;
}
static int rsa_encrypt_init(void *ctx, void *key, const OSSL_PARAM params[])
{
    CALL(0, py_cipher_init(ctx, "encrypt", key, params));
}
static int rsa_decrypt_init(void *ctx, void *key, const OSSL_PARAM params[])
{
    CALL(0, py_cipher_init(ctx, "decrypt", key, params));
}
static int rsa_cipher_run(void *ctx, unsigned char *out, size_t *outlen, size_t outsize,
                          const unsigned char *in, size_t inlen)
{
    CALL(0, py_cipher_run(ctx, out, outlen, outsize, in, inlen));
}

#define ASYM_CIPHER(id, ALG)                                              \
    static void *id##_cipher_newctx(void *provctx)                        \
    {                                                                     \
        CALL(NULL, py_cipher_newctx(PROV(provctx)->instance, ALG));       \
    }                                                                     \
    static const OSSL_DISPATCH id##_asym_cipher_functions[] = {           \
        FN(OSSL_FUNC_ASYM_CIPHER_NEWCTX, id##_cipher_newctx),             \
        FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, rsa_encrypt_init),         \
        FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT, rsa_cipher_run),                \
        FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, rsa_decrypt_init),         \
        FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT, rsa_cipher_run),                \
        FN(OSSL_FUNC_ASYM_CIPHER_FREECTX, obj_free),                      \
        FN(OSSL_FUNC_ASYM_CIPHER_DUPCTX, obj_dup),                        \
        FN(OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, obj_get_params),         \
        FN(OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, rsa_cipher_params), \
        FN(OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, obj_set_params),         \
        FN(OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, rsa_cipher_params), \
        { 0, NULL }                                                       \
    };

ASYM_CIPHER(rsa, "RSA")
/* Registered only so an RSA-PSS key gets a clear refusal instead of
 * "operation not supported for this keytype". */
ASYM_CIPHER(rsa_pss, "RSA-PSS")

/* ------------------------------------------------------------------ */
/* KEYEXCH: ECDH into a masked key file (keyexch.py).                  */

static const OSSL_PARAM ecdh_params_table[] = { OSSL_PARAM_utf8_string("output_file", NULL, 0),
                                                OSSL_PARAM_END };
static const OSSL_PARAM *ecdh_params(void *ctx, void *provctx) { return ecdh_params_table; }
static void *ecdh_newctx(void *provctx) { CALL(NULL, py_keyexch_newctx(PROV(provctx)->instance)); }
static int ecdh_init(void *ctx, void *key, const OSSL_PARAM params[])
{
    CALL(0, py_keyexch_init(ctx, key, params));
}
static int ecdh_set_peer(void *ctx, void *peer) { CALL(0, py_keyexch_set_peer(ctx, peer)); }
static int ecdh_derive(void *ctx, unsigned char *secret, size_t *secretlen, size_t outlen)
{
    CALL(0, py_keyexch_derive(ctx, secret, secretlen, outlen));
}

static const OSSL_DISPATCH ecdh_keyexch_functions[] = {
    FN(OSSL_FUNC_KEYEXCH_NEWCTX, ecdh_newctx),
    FN(OSSL_FUNC_KEYEXCH_INIT, ecdh_init),
    FN(OSSL_FUNC_KEYEXCH_SET_PEER, ecdh_set_peer),
    FN(OSSL_FUNC_KEYEXCH_DERIVE, ecdh_derive),
    FN(OSSL_FUNC_KEYEXCH_FREECTX, obj_free),
    FN(OSSL_FUNC_KEYEXCH_DUPCTX, obj_dup),
    FN(OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, obj_set_params),
    FN(OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS, ecdh_params),
    FN(OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS, obj_get_params),
    FN(OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS, ecdh_params),
    { 0, NULL }
};

/* ------------------------------------------------------------------ */
/* KDF: HKDF and KBKDF from a masked IKM to a masked AES/HMAC key       */
/* (kdf.py). KBKDF adds mode and mac; its salt is the label, its info   */
/* the context.                                                          */

#define KDF_COMMON_PARAMS                                      \
    OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, NULL, 0),    \
        OSSL_PARAM_utf8_string("azihsm.ikm_file", NULL, 0),    \
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, NULL, 0),  \
        OSSL_PARAM_utf8_string("output_file", NULL, 0),        \
        OSSL_PARAM_utf8_string("derived_key_type", NULL, 0),   \
        OSSL_PARAM_uint32("derived_key_bits", NULL),           \
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, NULL, 0), \
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, NULL, 0)

static const OSSL_PARAM hkdf_settable_table[] = { KDF_COMMON_PARAMS, OSSL_PARAM_END };
static const OSSL_PARAM kbkdf_settable_table[] = {
    KDF_COMMON_PARAMS,
    OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MAC, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM kdf_gettable_table[] = { OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),
                                                 OSSL_PARAM_END };
static const OSSL_PARAM *kdf_gettable(void *ctx, void *provctx) { return kdf_gettable_table; }
static void kdf_reset(void *ctx) { CALL_VOID(py_kdf_reset(ctx)); }
static int kdf_derive(void *ctx, unsigned char *key, size_t keylen, const OSSL_PARAM params[])
{
    CALL(0, py_kdf_derive(ctx, key, keylen, params));
}

#define KDF(id, NAME)                                                \
    static const OSSL_PARAM *id##_settable(void *ctx, void *provctx) \
    {                                                                \
        return id##_settable_table;                                  \
    }                                                                \
    static void *id##_newctx(void *provctx)                          \
    {                                                                \
        CALL(NULL, py_kdf_newctx(PROV(provctx)->instance, NAME));    \
    }                                                                \
    static const OSSL_DISPATCH id##_kdf_functions[] = {              \
        FN(OSSL_FUNC_KDF_NEWCTX, id##_newctx),                       \
        FN(OSSL_FUNC_KDF_DUPCTX, obj_dup),                           \
        FN(OSSL_FUNC_KDF_FREECTX, obj_free),                         \
        FN(OSSL_FUNC_KDF_RESET, kdf_reset),                          \
        FN(OSSL_FUNC_KDF_DERIVE, kdf_derive),                        \
        FN(OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, id##_settable),        \
        FN(OSSL_FUNC_KDF_SET_CTX_PARAMS, obj_set_params),            \
        FN(OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, kdf_gettable),         \
        FN(OSSL_FUNC_KDF_GET_CTX_PARAMS, obj_get_params),            \
        { 0, NULL }                                                  \
    };

KDF(hkdf, "HKDF")
KDF(kbkdf, "KBKDF")

/* ------------------------------------------------------------------ */
/* MAC: HMAC with a masked HMAC key named by path (mac.py).            */

static const OSSL_PARAM hmac_settable_table[] = {
    OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_MAC_PARAM_KEY, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM hmac_gettable_table[] = { OSSL_PARAM_size_t(OSSL_MAC_PARAM_SIZE, NULL),
                                                  OSSL_PARAM_size_t(OSSL_MAC_PARAM_BLOCK_SIZE,
                                                                    NULL),
                                                  OSSL_PARAM_END };
static const OSSL_PARAM *hmac_settable(void *ctx, void *provctx) { return hmac_settable_table; }
static const OSSL_PARAM *hmac_gettable(void *ctx, void *provctx) { return hmac_gettable_table; }
static void *hmac_newctx(void *provctx) { CALL(NULL, py_mac_newctx(PROV(provctx)->instance)); }
static int hmac_init(void *ctx, const unsigned char *key, size_t keylen, const OSSL_PARAM params[])
{
    CALL(0, py_mac_init(ctx, key, keylen, params));
}
static int hmac_final(void *ctx, unsigned char *out, size_t *outl, size_t outsize)
{
    CALL(0, py_mac_final(ctx, out, outl, outsize));
}

static const OSSL_DISPATCH hmac_mac_functions[] = {
    FN(OSSL_FUNC_MAC_NEWCTX, hmac_newctx),
    FN(OSSL_FUNC_MAC_DUPCTX, obj_dup),
    FN(OSSL_FUNC_MAC_FREECTX, obj_free),
    FN(OSSL_FUNC_MAC_INIT, hmac_init),
    FN(OSSL_FUNC_MAC_UPDATE, obj_update),
    FN(OSSL_FUNC_MAC_FINAL, hmac_final),
    FN(OSSL_FUNC_MAC_GETTABLE_CTX_PARAMS, hmac_gettable),
    FN(OSSL_FUNC_MAC_GET_CTX_PARAMS, obj_get_params),
    FN(OSSL_FUNC_MAC_SETTABLE_CTX_PARAMS, hmac_settable),
    FN(OSSL_FUNC_MAC_SET_CTX_PARAMS, obj_set_params),
    { 0, NULL }
};

/* ------------------------------------------------------------------ */
/* SKEYMGMT AES and the AES ciphers that take its opaque keys (skey.py), */
/* offered only when the core is OpenSSL 3.5 or later.                   */

#ifndef OSSL_OP_SKEYMGMT /* built against older headers: the 3.5 ABI values */
#define OSSL_OP_SKEYMGMT                       15
#define OSSL_FUNC_SKEYMGMT_FREE                1
#define OSSL_FUNC_SKEYMGMT_IMPORT              2
#define OSSL_FUNC_SKEYMGMT_EXPORT              3
#define OSSL_FUNC_SKEYMGMT_GENERATE            4
#define OSSL_FUNC_SKEYMGMT_GET_KEY_ID          5
#define OSSL_FUNC_SKEYMGMT_IMP_SETTABLE_PARAMS 6
#define OSSL_FUNC_SKEYMGMT_GEN_SETTABLE_PARAMS 7
#endif
#ifndef OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT
#define OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT 19
#define OSSL_FUNC_CIPHER_DECRYPT_SKEY_INIT 20
#endif

static const OSSL_PARAM skey_gen_settable_table[] = {
    OSSL_PARAM_size_t("key-length", NULL),
    OSSL_PARAM_utf8_string("azihsm.key_kind", NULL, 0),
    OSSL_PARAM_utf8_string("azihsm.masked_key", NULL, 0),
    OSSL_PARAM_utf8_string("azihsm.session", NULL, 0),
    OSSL_PARAM_END
};
/* raw-bytes is listed so an import of a raw key reaches us and is refused by name */
static const OSSL_PARAM skey_imp_settable_table[] = { OSSL_PARAM_utf8_string("azihsm.masked_key",
                                                                             NULL, 0),
                                                      OSSL_PARAM_octet_string("raw-bytes", NULL, 0),
                                                      OSSL_PARAM_END };
static const OSSL_PARAM *skey_gen_settable(void *provctx) { return skey_gen_settable_table; }
static const OSSL_PARAM *skey_imp_settable(void *provctx) { return skey_imp_settable_table; }
static void *skey_generate(void *provctx, const OSSL_PARAM params[])
{
    CALL(NULL, py_skey_generate(PROV(provctx)->instance, params));
}
static void *skey_import(void *provctx, int selection, const OSSL_PARAM params[])
{
    CALL(NULL, py_skey_import(PROV(provctx)->instance, selection, params));
}
static int skey_export(void *key, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    CALL(0, py_skey_export(key, selection));
}
static const char *skey_get_key_id(void *key) { CALL(NULL, py_skey_id(key)); }
static void skey_free(void *key)
{
    if (key != NULL) /* EVP_SKEY_free calls us with NULL after a failed import */
        obj_free(key);
}

static const OSSL_DISPATCH aes_skeymgmt_functions[] = {
    FN(OSSL_FUNC_SKEYMGMT_FREE, skey_free),
    FN(OSSL_FUNC_SKEYMGMT_IMPORT, skey_import),
    FN(OSSL_FUNC_SKEYMGMT_EXPORT, skey_export),
    FN(OSSL_FUNC_SKEYMGMT_GENERATE, skey_generate),
    FN(OSSL_FUNC_SKEYMGMT_GET_KEY_ID, skey_get_key_id),
    FN(OSSL_FUNC_SKEYMGMT_IMP_SETTABLE_PARAMS, skey_imp_settable),
    FN(OSSL_FUNC_SKEYMGMT_GEN_SETTABLE_PARAMS, skey_gen_settable),
    { 0, NULL }
};

static const OSSL_PARAM aes_gettable_table[] = {
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_BLOCK_SIZE, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_MODE, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_AEAD, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_CUSTOM_IV, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_CTS, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_TLS1_MULTIBLOCK, NULL),
    OSSL_PARAM_int(OSSL_CIPHER_PARAM_HAS_RAND_KEY, NULL),
    OSSL_PARAM_END
};
static const OSSL_PARAM aes_ctx_gettable_table[] = {
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_KEYLEN, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_IVLEN, NULL),
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_PADDING, NULL),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_TAGLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, 0),
    OSSL_PARAM_END
};
static const OSSL_PARAM aes_ctx_settable_table[] = {
    OSSL_PARAM_uint(OSSL_CIPHER_PARAM_PADDING, NULL),
    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, NULL, 0),
    OSSL_PARAM_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, NULL),
    OSSL_PARAM_END
};
static const OSSL_PARAM *aes_gettable(void *provctx) { return aes_gettable_table; }
static const OSSL_PARAM *aes_ctx_gettable(void *ctx, void *provctx)
{
    return aes_ctx_gettable_table;
}
static const OSSL_PARAM *aes_ctx_settable(void *ctx, void *provctx)
{
    return aes_ctx_settable_table;
}
/* a raw key is refused; a NULL key (an IV-only re-init) keeps the opaque key */
static int aes_einit(void *ctx, const unsigned char *key, size_t keylen, const unsigned char *iv,
                     size_t ivlen, const OSSL_PARAM params[])
{
    CALL(0, py_aes_init(ctx, 1, NULL, iv, ivlen, params, key != NULL));
}
static int aes_dinit(void *ctx, const unsigned char *key, size_t keylen, const unsigned char *iv,
                     size_t ivlen, const OSSL_PARAM params[])
{
    CALL(0, py_aes_init(ctx, 0, NULL, iv, ivlen, params, key != NULL));
}
static int aes_einit_skey(void *ctx, void *skey, const unsigned char *iv, size_t ivlen,
                          const OSSL_PARAM params[])
{
    CALL(0, py_aes_init(ctx, 1, skey, iv, ivlen, params, 0));
}
static int aes_dinit_skey(void *ctx, void *skey, const unsigned char *iv, size_t ivlen,
                          const OSSL_PARAM params[])
{
    CALL(0, py_aes_init(ctx, 0, skey, iv, ivlen, params, 0));
}
static int aes_update(void *ctx, unsigned char *out, size_t *outl, size_t outsize,
                      const unsigned char *in, size_t inl)
{
    CALL(0, py_aes_update(ctx, out, outl, outsize, in, inl));
}
static int aes_final(void *ctx, unsigned char *out, size_t *outl, size_t outsize)
{
    CALL(0, py_aes_final(ctx, out, outl, outsize));
}

#define AES_CIPHER(id, NAME)                                                                      \
    static void *id##_newctx(void *provctx)                                                       \
    {                                                                                             \
        CALL(NULL, py_aes_newctx(PROV(provctx)->instance, NAME));                                 \
    }                                                                                             \
    static int id##_get_params(OSSL_PARAM params[]) { CALL(0, py_aes_get_params(NAME, params)); } \
    static const OSSL_DISPATCH id##_cipher_functions[] = {                                        \
        FN(OSSL_FUNC_CIPHER_NEWCTX, id##_newctx),                                                 \
        FN(OSSL_FUNC_CIPHER_FREECTX, obj_free),                                                   \
        FN(OSSL_FUNC_CIPHER_ENCRYPT_INIT, aes_einit),                                             \
        FN(OSSL_FUNC_CIPHER_DECRYPT_INIT, aes_dinit),                                             \
        FN(OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT, aes_einit_skey),                                   \
        FN(OSSL_FUNC_CIPHER_DECRYPT_SKEY_INIT, aes_dinit_skey),                                   \
        FN(OSSL_FUNC_CIPHER_UPDATE, aes_update),                                                  \
        FN(OSSL_FUNC_CIPHER_FINAL, aes_final),                                                    \
        FN(OSSL_FUNC_CIPHER_GET_PARAMS, id##_get_params),                                         \
        FN(OSSL_FUNC_CIPHER_GETTABLE_PARAMS, aes_gettable),                                       \
        FN(OSSL_FUNC_CIPHER_GET_CTX_PARAMS, obj_get_params),                                      \
        FN(OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS, aes_ctx_gettable),                               \
        FN(OSSL_FUNC_CIPHER_SET_CTX_PARAMS, obj_set_params),                                      \
        FN(OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS, aes_ctx_settable),                               \
        { 0, NULL }                                                                               \
    };

AES_CIPHER(aes128cbc, "AES-128-CBC")
AES_CIPHER(aes192cbc, "AES-192-CBC")
AES_CIPHER(aes256cbc, "AES-256-CBC")
AES_CIPHER(aes256gcm, "AES-256-GCM")
AES_CIPHER(aes256xts, "AES-256-XTS")

/* ------------------------------------------------------------------ */
/* Algorithm tables.                                                   */

/* fips=yes because the real provider declares it on every algorithm (reference-behavior.md),
 * so a `-propquery fips=yes` run selects the reference exactly as it would the real one. */
#define ALG_PROPS "provider=azihsm,fips=yes"

static const OSSL_ALGORITHM digests[] = {
    { "SHA1:SHA-1:SSL3-SHA1:1.3.14.3.2.26", ALG_PROPS, sha1_functions, "SHA-1" },
    { "SHA2-256:SHA-256:SHA256:2.16.840.1.101.3.4.2.1", ALG_PROPS, sha256_functions, "SHA-256" },
    { "SHA2-384:SHA-384:SHA384:2.16.840.1.101.3.4.2.2", ALG_PROPS, sha384_functions, "SHA-384" },
    { "SHA2-512:SHA-512:SHA512:2.16.840.1.101.3.4.2.3", ALG_PROPS, sha512_functions, "SHA-512" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM keymgmts[] = {
    { "EC:id-ecPublicKey:1.2.840.10045.2.1", ALG_PROPS, ec_keymgmt_functions, "azihsm EC keys" },
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1",
      ALG_PROPS,
      rsa_keymgmt_functions,
      "azihsm RSA keys" },
    { "RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10",
      ALG_PROPS,
      rsa_pss_keymgmt_functions,
      "azihsm RSA-PSS keys" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM signatures[] = {
    { "ECDSA", ALG_PROPS, ecdsa_signature_functions, "azihsm ECDSA" },
    { "EC:id-ecPublicKey:1.2.840.10045.2.1", ALG_PROPS, ecdsa_signature_functions, "azihsm ECDSA" },
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1",
      ALG_PROPS,
      rsa_signature_functions,
      "azihsm RSA PKCS#1 v1.5 and PSS" },
    { "RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10",
      ALG_PROPS,
      rsa_pss_signature_functions,
      "azihsm RSA-PSS" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM asym_ciphers[] = { { "RSA:rsaEncryption:1.2.840.113549.1.1.1",
                                                 ALG_PROPS,
                                                 rsa_asym_cipher_functions,
                                                 "azihsm RSA OAEP and PKCS#1 v1.5 encryption" },
                                               { "RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10",
                                                 ALG_PROPS,
                                                 rsa_pss_asym_cipher_functions,
                                                 "refuses RSA-PSS keys (they cannot encrypt)" },
                                               { NULL, NULL, NULL, NULL } };

static const OSSL_ALGORITHM keyexchs[] = {
    { "ECDH", ALG_PROPS, ecdh_keyexch_functions, "azihsm ECDH into a masked key file" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM kdfs[] = {
    { "HKDF", ALG_PROPS, hkdf_kdf_functions, "azihsm HKDF into a masked AES or HMAC key" },
    { "KBKDF",
      ALG_PROPS,
      kbkdf_kdf_functions,
      "azihsm KBKDF (SP 800-108 counter mode, HMAC) into a masked AES or HMAC key" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM macs[] = {
    { "HMAC", ALG_PROPS, hmac_mac_functions, "azihsm HMAC with a masked HMAC key" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM stores[] = {
    { "azihsm", "provider=azihsm", store_functions, "azihsm:// masked key files" },
    { NULL, NULL, NULL, NULL }
};

#define ENCODER_ROWS(KEYTYPE)                                                                      \
    { KEYTYPE, "provider=azihsm,output=text", text_encoder_functions, NULL },                      \
        { KEYTYPE,                                                                                 \
          "provider=azihsm,output=der,structure=SubjectPublicKeyInfo",                             \
          der_spki_encoder_functions,                                                              \
          NULL },                                                                                  \
        { KEYTYPE,                                                                                 \
          "provider=azihsm,output=pem,structure=SubjectPublicKeyInfo",                             \
          pem_spki_encoder_functions,                                                              \
          NULL },                                                                                  \
        { KEYTYPE,                                                                                 \
          "provider=azihsm,output=der,structure=PrivateKeyInfo",                                   \
          der_pki_encoder_functions,                                                               \
          NULL },                                                                                  \
    {                                                                                              \
        KEYTYPE, "provider=azihsm,output=pem,structure=PrivateKeyInfo", pem_pki_encoder_functions, \
            NULL                                                                                   \
    }

static const OSSL_ALGORITHM encoders[] = {
    ENCODER_ROWS("EC"), ENCODER_ROWS("RSA"), ENCODER_ROWS("RSA-PSS"), { NULL, NULL, NULL, NULL }
};

/* ------------------------------------------------------------------ */
/* The provider itself.                                                */

static const OSSL_PARAM provider_gettable[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
    OSSL_PARAM_END
};

static const OSSL_PARAM *provider_gettable_params(void *provctx) { return provider_gettable; }
static int provider_get_params(void *provctx, OSSL_PARAM params[])
{
    CALL(0, py_provider_get_params(PROV(provctx)->instance, params));
}

static const OSSL_ALGORITHM skeymgmts[] = {
    { "AES", ALG_PROPS, aes_skeymgmt_functions, "azihsm opaque AES keys (masked in the HSM)" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM aes_ciphers[] = { { "AES-128-CBC:AES128:2.16.840.1.101.3.4.1.2",
                                                ALG_PROPS,
                                                aes128cbc_cipher_functions,
                                                "azihsm AES-128-CBC, opaque keys only" },
                                              { "AES-192-CBC:AES192:2.16.840.1.101.3.4.1.22",
                                                ALG_PROPS,
                                                aes192cbc_cipher_functions,
                                                "azihsm AES-192-CBC, opaque keys only" },
                                              { "AES-256-CBC:AES256:2.16.840.1.101.3.4.1.42",
                                                ALG_PROPS,
                                                aes256cbc_cipher_functions,
                                                "azihsm AES-256-CBC, opaque keys only" },
                                              { "AES-256-GCM:id-aes256-GCM:2.16.840.1.101.3.4.1.46",
                                                ALG_PROPS,
                                                aes256gcm_cipher_functions,
                                                "azihsm AES-256-GCM, opaque keys only" },
                                              { "AES-256-XTS:1.3.111.2.1619.0.1.2",
                                                ALG_PROPS,
                                                aes256xts_cipher_functions,
                                                "azihsm AES-256-XTS, opaque keys only" },
                                              { NULL, NULL, NULL, NULL } };

static const OSSL_ALGORITHM *provider_query(void *provctx, int operation_id, int *no_cache)
{
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_DIGEST:
        return digests;
    case OSSL_OP_KEYMGMT:
        return keymgmts;
    case OSSL_OP_SIGNATURE:
        return signatures;
    case OSSL_OP_STORE:
        return stores;
    case OSSL_OP_ENCODER:
        return encoders;
    case OSSL_OP_ASYM_CIPHER:
        return asym_ciphers;
    case OSSL_OP_KEYEXCH:
        return keyexchs;
    case OSSL_OP_KDF:
        return kdfs;
    case OSSL_OP_MAC:
        return macs;
    case OSSL_OP_CIPHER: /* opaque keys exist from OpenSSL 3.5 on (SKEYMGMT) */
        return PROV(provctx)->opaque_keys ? aes_ciphers : NULL;
    case OSSL_OP_SKEYMGMT:
        return PROV(provctx)->opaque_keys ? skeymgmts : NULL;
    default:
        return NULL;
    }
}

static const OSSL_ITEM *provider_reason_strings(void *provctx) { return reason_strings; }

static void provider_teardown(void *provctx)
{
    bridge_prov *p = provctx;

    if (p == NULL)
        return;
    if (p->instance > 0 && bridge_enter()) {
        py_provider_teardown(p->instance);
        call_depth--;
    }
    free(p);
}

static const OSSL_DISPATCH provider_functions[] = {
    FN(OSSL_FUNC_PROVIDER_TEARDOWN, provider_teardown),
    FN(OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, provider_gettable_params),
    FN(OSSL_FUNC_PROVIDER_GET_PARAMS, provider_get_params),
    FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, provider_query),
    FN(OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, provider_reason_strings),
    { 0, NULL }
};

/* A nested libcrypto gets an instance that offers no algorithms. */
static const OSSL_ALGORITHM *nested_query(void *provctx, int operation_id, int *no_cache)
{
    *no_cache = 0;
    return NULL;
}
static void nested_teardown(void *provctx) { free(provctx); }
static const OSSL_DISPATCH nested_functions[] = { FN(OSSL_FUNC_PROVIDER_TEARDOWN, nested_teardown),
                                                  FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION,
                                                     nested_query),
                                                  { 0, NULL } };

__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                              const OSSL_DISPATCH *in,
                                                              const OSSL_DISPATCH **out,
                                                              void **provctx)
{
    bridge_prov *p = calloc(1, sizeof(*p));
    int ok;

    if (p == NULL)
        return 0;
    p->handle = handle;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS:
            p->core_get_params = OSSL_FUNC_core_get_params(in);
            break;
        case OSSL_FUNC_CORE_NEW_ERROR:
            p->new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            p->set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            p->vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        case OSSL_FUNC_BIO_WRITE_EX:
            p->bio_write_ex = OSSL_FUNC_BIO_write_ex(in);
            break;
        default:
            break;
        }
    }
    if (p->new_error == NULL || p->vset_error == NULL) {
        free(p);
        return 0;
    }

    if (core_is_nested((const void *)p->core_get_params)) {
        *out = nested_functions;
        *provctx = p;
        return 1;
    }

    pthread_mutex_lock(&start_lock); /* two library contexts may load us at once */
    ok = bridge_start(p);
    pthread_mutex_unlock(&start_lock);
    if (!ok) {
        free(p);
        return 0;
    }
    if (!bridge_enter()) {
        raise_error(p,
                    BRIDGE_R_REENTRY,
                    "OSSL_provider_init",
                    "azihsm provider initialised from inside itself too deeply");
        free(p);
        return 0;
    }
    ok = py_provider_init(p, &p->instance);
    call_depth--;
    p->opaque_keys = core_at_least(p, 3, 5);
    if (!ok) {
        free(p);
        return 0;
    }
    *out = provider_functions;
    *provctx = p;
    return 1;
}
