/* The Python side of the provider: every function here is implemented in
 * reference/bridge/externs.py with @ffi.def_extern and called from provider.c.
 * build.py turns each declaration into a C forward declaration and a cffi
 * `extern "Python"` entry. Objects (key data, operation contexts) are opaque
 * handles into the Python handle table. */
int py_provider_init(void *cprov, int *instance);
void py_provider_teardown(int instance);
int py_provider_get_params(int instance, OSSL_PARAM params[]);
void *py_obj_dup(void *obj);
void py_obj_free(void *obj);
int py_obj_update(void *obj, const unsigned char *data, size_t len);
int py_obj_get_params(void *obj, OSSL_PARAM params[]);
int py_obj_set_params(void *obj, const OSSL_PARAM params[]);
void *py_digest_newctx(int instance, const char *name);
int py_digest_init(void *ctx);
int py_digest_final(void *ctx, unsigned char *out, size_t *outl, size_t outsz);
int py_digest_oneshot(int instance, const char *name, const unsigned char *in, size_t inl,
                      unsigned char *out, size_t *outl, size_t outsz);
int py_digest_get_params(const char *name, OSSL_PARAM params[]);
void *py_key_new(int instance, const char *alg);
void *py_keygen_init(int instance, const char *alg, int selection, const OSSL_PARAM params[]);
void *py_keygen(void *genctx);
void *py_key_load(const char *alg, const void *reference, size_t size);
int py_key_has(const void *key, int selection);
int py_key_match(const void *a, const void *b, int selection);
int py_key_import(void *key, int selection, const OSSL_PARAM params[]);
int py_key_export(void *key, int selection, OSSL_CALLBACK *cb, void *cbarg);
void *py_store_open(int instance, const char *uri);
int py_store_load(void *ctx, OSSL_CALLBACK *cb, void *cbarg);
int py_store_eof(void *ctx);
void *py_sig_newctx(int instance, const char *alg);
int py_sig_init(void *ctx, const char *operation, const char *mdname, void *key,
                const OSSL_PARAM params[]);
int py_sig_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                const unsigned char *tbs, size_t tbslen);
int py_sig_verify(void *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                  size_t tbslen);
int py_sig_sign_final(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize);
int py_sig_verify_final(void *ctx, const unsigned char *sig, size_t siglen);
int py_encode(int instance, const char *form, void *cbio, const void *key, int selection,
              int encrypt);
void *py_cipher_newctx(int instance, const char *alg);
int py_cipher_init(void *ctx, const char *operation, void *key, const OSSL_PARAM params[]);
int py_cipher_run(void *ctx, unsigned char *out, size_t *outlen, size_t outsize,
                  const unsigned char *in, size_t inlen);
void *py_keyexch_newctx(int instance);
int py_keyexch_init(void *ctx, void *key, const OSSL_PARAM params[]);
int py_keyexch_set_peer(void *ctx, void *peer);
int py_keyexch_derive(void *ctx, unsigned char *secret, size_t *secretlen, size_t outlen);
void *py_kdf_newctx(int instance, const char *algorithm);
void py_kdf_reset(void *ctx);
int py_kdf_derive(void *ctx, unsigned char *key, size_t keylen, const OSSL_PARAM params[]);
void *py_mac_newctx(int instance);
int py_mac_init(void *ctx, const unsigned char *key, size_t keylen, const OSSL_PARAM params[]);
int py_mac_final(void *ctx, unsigned char *out, size_t *outl, size_t outsize);
void *py_skey_generate(int instance, const OSSL_PARAM params[]);
void *py_skey_import(int instance, int selection, const OSSL_PARAM params[]);
int py_skey_export(void *key, int selection);
const char *py_skey_id(void *key);
void *py_aes_newctx(int instance, const char *name);
int py_aes_init(void *ctx, int encrypt, void *skey, const unsigned char *iv, size_t ivlen,
                const OSSL_PARAM params[], int raw_key);
int py_aes_update(void *ctx, unsigned char *out, size_t *outl, size_t outsize,
                  const unsigned char *in, size_t inl);
int py_aes_final(void *ctx, unsigned char *out, size_t *outl, size_t outsize);
int py_aes_get_params(const char *name, OSSL_PARAM params[]);
